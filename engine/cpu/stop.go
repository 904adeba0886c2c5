package cpu

import (
	"sync"
	"sync/atomic"

	"github.com/wan22/wan22/engine"
)

// WithStop returns a backend that shares b's workers and tensors (either may
// use or free the other's) and whose long kernels — Conv3d, ChannelNorm and
// Attention (so FrameAttention) — call stop before every block of work (a
// few output channels × one segment of a frame, or one row). Once stop
// returns an error, every worker ends after its current block, all of them
// are joined, and the op panics with an *engine.Error for the op wrapping
// that error (engine.Catch returns it; errors.Is finds the cause). A VAE run
// passes its context's Err, so a cancelled run stops within one block rather
// than one convolution.
//
// stop is called from several goroutines at once and must be safe for
// that; it should be cheap (it runs every few milliseconds of work). b
// itself is unchanged, and the returned backend stays usable after a stop:
// each op consults stop afresh.
func (b *Backend) WithStop(stop func() error) engine.VideoOps {
	c := *b
	c.stop = stop
	return &c
}

// halt is one op's view of the backend's stop hook: the first error stop
// returned, shared by the op's workers. A nil *halt (no hook) never stops.
type halt struct {
	stop    func() error
	stopped atomic.Bool
	mu      sync.Mutex
	err     error
}

// halt returns the stop state of one op call, nil without a stop hook.
func (b *Backend) halt() *halt {
	if b.stop == nil {
		return nil
	}
	return &halt{stop: b.stop}
}

// now reports whether the op must stop: a worker calls it before each block
// and returns when it is true.
func (h *halt) now() bool {
	if h == nil {
		return false
	}
	if h.stopped.Load() {
		return true
	}
	err := h.stop()
	if err == nil {
		return false
	}
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	h.mu.Unlock()
	h.stopped.Store(true)
	return true
}

// check panics with an *engine.Error for op wrapping stop's error when the op
// was stopped (or stop now says so). Call it on the op's own goroutine after
// the parallel loop has joined its workers, before using their results.
func (h *halt) check(op string) {
	if !h.now() {
		return
	}
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	panic(&engine.Error{Op: op, Err: err})
}
