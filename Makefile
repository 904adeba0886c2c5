# wan22 — build, test and benchmark entry points. See README.md.
GO      ?= go
BIN     ?= bin
GPUBIN  ?= gpu-bin
PKGS    ?= ./...

.PHONY: help setup build cuda test check bench demo ptx gpu-test clean

## help: list these targets (what `make` alone does); start with `make setup demo`
help:
	@echo 'usage: make TARGET (first run: make setup demo)'
	@echo
	@awk '/^## [a-z-]+: / { t = $$2; sub(/:$$/, "", t); sub(/^## [a-z-]+: /, ""); printf "  %-10s%s\n", t, $$0; next } /^## / { sub(/^## /, ""); printf "            %s\n", $$0 }' $(firstword $(MAKEFILE_LIST))

## setup: fetch Go modules (the CUDA build additionally needs scripts/install-cuda.sh)
setup:
	$(GO) mod download

## build: the CPU-only engine (no cgo, no GPU needed)
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/wan22 ./cmd/wan22

## cuda: the CUDA engine (needs CUDA 11.x/12.x headers and libcuda to link; see README)
cuda:
	$(GO) build -tags cuda -o $(BIN)/wan22-cuda ./cmd/wan22

## test: the whole test suite without a GPU (what CI runs)
test:
	CGO_ENABLED=0 $(GO) test -count=1 $(PKGS)

## check: what CI runs — CUDA headers if missing, vet with and without the cuda tag,
## the cuda binary must compile, the Windows and macOS CPU builds must compile,
## then the whole test suite without a GPU
check:
	./scripts/install-cuda.sh
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) vet -tags cuda ./...
	$(GO) build -tags cuda -o $(BIN)/wan22-cuda ./cmd/wan22
	CGO_ENABLED=0 GOOS=windows $(GO) build -o /dev/null ./cmd/wan22
	CGO_ENABLED=0 GOOS=darwin $(GO) build -o /dev/null ./cmd/wan22
	CGO_ENABLED=0 $(GO) test -count=1 $(PKGS)

## bench: CPU benchmarks
bench:
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

## demo: image-to-video end to end on tiny models the project writes itself; writes demo.mp4
## (or demo-N.mp4 when that exists: nothing is overwritten or deleted)
demo: build
	./scripts/demo.sh $(BIN)/wan22

## ptx: compile every kernels/*.cu (compute_80, nvcc 11.8+) and kernels/sm90a/*.cu (nvcc 12+) to the
## committed PTX; prints what it built and what it skipped and why
ptx:
	./scripts/ptx.sh

## gpu-test: build CUDA test binaries into gpu-bin/ (GPUBIN) for the device machine
gpu-test:
	./scripts/gpu-test.sh $(GPUBIN)

## clean: remove bin/ and gpu-bin/ (the demo's videos stay)
clean:
	rm -rf $(BIN) $(GPUBIN)
