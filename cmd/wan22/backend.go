package main

import (
	"fmt"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/pipeline"
)

// backendChoice is an opened compute backend for a command.
type backendChoice struct {
	b     engine.Backend
	stage func(pipeline.Stage) engine.Backend // per-stage views, or nil
	close func() error
}

// openBackend opens "cpu" or "cuda" (the latter only in binaries built with
// -tags cuda). vramGiB > 0 caps the GPU memory budget, e.g. 32 to run as on
// an RTX 5090.
func openBackend(name string, vramGiB float64) (backendChoice, error) {
	switch name {
	case "cpu":
		return backendChoice{b: cpu.New(), close: func() error { return nil }}, nil
	case "cuda":
		if vramGiB < 0 {
			return backendChoice{}, fmt.Errorf("-vram must be positive (GiB), got %g", vramGiB)
		}
		cb, err := cuda.NewBackend(cuda.Config{MemCap: int64(vramGiB * (1 << 30))})
		if err != nil {
			return backendChoice{}, err
		}
		// Each stage's allocations carry the stage as owner, so a model is
		// accounted, and can be freed, on its own.
		return backendChoice{
			b:     cb,
			stage: func(s pipeline.Stage) engine.Backend { return cb.ForModel(s.String()) },
			close: cb.Close,
		}, nil
	}
	return backendChoice{}, fmt.Errorf("unknown backend %q: use cpu or cuda", name)
}
