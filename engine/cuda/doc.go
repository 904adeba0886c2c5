// Package cuda is wan22's CUDA backend foundation: device and context, memory with budgets, streams and
// events, pinned host memory, kernel modules, cuBLASLt and the kernels of package kernels.
//
// It is the only package of the module that imports "C". The real implementation is built with the
// `cuda` build tag; without it, Open returns ErrNotBuilt so that callers compile and fall back to the CPU.
// The pure-Go parts (budget accounting, argument checks, error types) build and test everywhere.
//
// # Threading model
//
// A CUDA context is current per OS thread. Open starts one goroutine, locks it to its OS thread with
// runtime.LockOSThread, makes the device's primary context current there, and from then on every CUDA
// call of this package runs on that goroutine: each exported method of Device (and of Buffer, Stream,
// Event, HostBuffer) hands its work to it and waits for the result. Device.Do runs a whole function there,
// which is how a caller issues many operations at the cost of one hand-off; methods called from inside Do
// run directly (the package recognizes the CUDA goroutine by its OS thread id). All methods are therefore
// safe to call from any goroutine; GPU work is still ordered only by the stream it is issued on.
//
// # Memory
//
// Device allocations are accounted against a budget, min(Config.MemCap, free − Config.Reserve) measured at
// Open; an allocation beyond it fails with a *BudgetError (errors.Is(err, ErrOutOfBudget)) before the
// driver is asked. Each allocation belongs to an owner (a model, "scratch", …); FreeOwner releases all of an
// owner's allocations and MemStats reports current and peak use, per owner, to the byte.
//
// Pinned host memory (cuMemHostAlloc, cuMemHostRegister) has its own budget (Config.PinnedCap). AllocPinned
// fails with a *PinError when pinning is refused; AllocHost falls back to pageable memory instead, with one
// warning. Host↔device copies are asynchronous on the stream given (a dedicated copy stream exists,
// Device.CopyStream), and events order them against compute on other streams.
//
// # Kernels
//
// The PTX of package kernels is loaded lazily, module by module, on first use; the driver JIT-compiles it
// for the GPU at hand. Every launcher takes its stream explicitly and checks its arguments. With
// WAN22_CUDA_SYNC=1 (or Config.Sync) every launch is followed by a stream synchronization and an error
// check that names the kernel; otherwise errors from asynchronous work surface at the next synchronizing
// call. For kernel development, WAN22_PTX_DIR names a folder laid out like kernels/ whose .ptx files replace
// the embedded modules of the same names (PTX rebuilt on a GPU machine runs without rebuilding the binary).
//
// Layout conventions: activations x are [M,K] row-major; weights W are as stored in GGUF, N rows of K
// elements with quant blocks along K; Linear computes y = x·Wᵀ + b, [M,N]. GEMMs take bf16 operands and
// accumulate in f32 (cuBLASLt when a libcublasLt is found at run time, the package's own tensor-core kernel
// otherwise); weights of other ggml types are dequantized into a bf16 scratch first, bit-exactly as
// package gguf does on the CPU.
package cuda
