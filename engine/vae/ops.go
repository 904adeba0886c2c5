package vae

import "github.com/wan22/wan22/engine"

// Ops is what the VAE runs on: engine.VideoOps, the core backend plus the
// video ops that only the VAE needs. The interface lives in package engine so
// that backends do not import model packages.
type Ops = engine.VideoOps

// ConvOpts configures Ops.Conv3d; see engine.ConvOpts.
type ConvOpts = engine.ConvOpts

// stoppable is an optional fast path of a backend whose long kernels can stop
// partway (the CPU backend, where one full-size conv takes many seconds):
// WithStop returns the same backend with ops that call stop between blocks
// of their work and, once it returns an error, join their workers and panic
// with an *engine.Error wrapping it. A run binds its context this way, so a
// cancel stops it within one block of one op instead of one op.
type stoppable interface {
	WithStop(stop func() error) engine.VideoOps
}
