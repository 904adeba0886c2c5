//go:build cuda

package cudatest

import "github.com/wan22/wan22/engine"

// The fused ops of cuda.Backend (engine/cuda/backend_fused.go), timed like the others.

func (p *Profiler) LinearGELU(x, w, bias engine.Tensor) (y engine.Tensor) {
	p.add(byShape("LinearGELU", x, w), func() { y = p.Backend.LinearGELU(x, w, bias) })
	return y
}
func (p *Profiler) RMSNormRotate(x, w, cos, sin engine.Tensor, heads int, eps float32) (y engine.Tensor) {
	p.add("RMSNormRotate", func() { y = p.Backend.RMSNormRotate(x, w, cos, sin, heads, eps) })
	return y
}
