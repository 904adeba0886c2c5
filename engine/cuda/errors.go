package cuda

import (
	"errors"
	"fmt"
)

var (
	// ErrNotBuilt is returned by Open in a binary built without the cuda build tag.
	ErrNotBuilt = errors.New("cuda: this binary was built without CUDA support: rebuild with `go build -tags cuda` (needs CUDA 11.x/12.x headers, see README), or use the CPU backend")
	// ErrNoDevice means the driver is there but reports no usable GPU. Open's
	// error wraps it with the reason (errors.Is). Unlike this package's other
	// errors its text has no "cuda: " prefix: it names the NVIDIA GPU itself,
	// and is said to the user after the caller's words ("opening the GPU: no
	// usable NVIDIA GPU: the driver reports 0 devices; …"), where the prefix
	// only repeated what the line says.
	ErrNoDevice = errors.New("no usable NVIDIA GPU")
	// ErrOutOfBudget is matched (errors.Is) by every *BudgetError.
	ErrOutOfBudget = errors.New("cuda: memory budget exceeded")
	// ErrPinRefused is matched (errors.Is) by every *PinError.
	ErrPinRefused = errors.New("cuda: pinning host memory refused")
	// ErrClosed is returned by methods of a Device after Close.
	ErrClosed = errors.New("cuda: device is closed")
)

// Error is a failed CUDA driver or library call.
type Error struct {
	Call string // the call that failed, with its main arguments, e.g. "cuMemAlloc(1.00 GiB)"
	Code int    // CUresult (driver) or cublasStatus_t (cuBLASLt)
	Name string // e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Desc string // the driver's description, when known
}

func (e *Error) Error() string {
	s := "cuda: " + e.Call + ": " + e.Name
	if e.Desc != "" {
		s += " (" + e.Desc + ")"
	}
	return s
}

// Common CUresult codes this package reacts to.
const (
	cuSuccess               = 0
	cuOutOfMemory           = 2
	cuNoDevice              = 100
	cuInvalidDevice         = 101
	cuInvalidPTX            = 218
	cuUnsupportedPTXVersion = 222
	cuNoBinaryForGPU        = 209
)

// BudgetError is an allocation refused because it would exceed a budget.
type BudgetError struct {
	What    string // "device memory" or "pinned host memory"
	Owner   string
	Request int64
	InUse   int64
	Limit   int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("cuda: %s budget exceeded: %s for %q with %s of %s in use (raise the cap or free memory)",
		e.What, FormatBytes(e.Request), e.Owner, FormatBytes(e.InUse), FormatBytes(e.Limit))
}

// Is makes errors.Is(err, ErrOutOfBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrOutOfBudget }

// PinError is a refused request for pinned host memory: over the pinned budget, or refused by the driver
// (locked-memory limits of the OS or container, out of memory).
type PinError struct {
	Size int64
	Err  error // a *BudgetError or the driver's *Error
}

func (e *PinError) Error() string {
	hint := "raise Config.PinnedCap"
	var ce *Error
	if errors.As(e.Err, &ce) {
		hint = "the OS or container limits locked memory (ulimit -l, memlock) or host memory is short"
	}
	return fmt.Sprintf("cuda: cannot pin %s of host memory: %v; %s", FormatBytes(e.Size), e.Err, hint)
}

// Unwrap returns the underlying budget or driver error.
func (e *PinError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPinRefused) true.
func (e *PinError) Is(target error) bool { return target == ErrPinRefused }

// FormatBytes prints a byte count with a binary unit, e.g. "1.50 GiB".
func FormatBytes(n int64) string {
	const k = 1024
	switch {
	case n < 0:
		return "-" + FormatBytes(-n)
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.2f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.2f MiB", float64(n)/(k*k))
	default:
		return fmt.Sprintf("%.2f GiB", float64(n)/(k*k*k))
	}
}
