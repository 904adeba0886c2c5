package vae

import "github.com/wan22/wan22/engine"

// Ops is what the VAE runs on: engine.VideoOps, the core backend plus the
// video ops that only the VAE needs. The interface lives in package engine so
// that backends do not import model packages.
type Ops = engine.VideoOps

// ConvOpts configures Ops.Conv3d; see engine.ConvOpts.
type ConvOpts = engine.ConvOpts
