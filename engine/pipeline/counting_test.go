package pipeline

import (
	"sync"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// counting wraps the CPU backend and keeps the set of tensors alive on it,
// weights included. It embeds the interface, not *cpu.Backend, so that only
// the core and video ops are reachable and every one that makes a tensor is
// wrapped here (the models fall back from the fused fast paths). A view made
// by Reshape shares its source's storage: freeing either frees both.
type counting struct {
	engine.VideoOps
	mu   sync.Mutex
	root map[engine.Tensor]engine.Tensor // tensor or view → the tensor owning its storage
	live map[engine.Tensor]string        // owning tensor → the op that made it
	peak int
	made map[string]int // op → tensors it made over the backend's life
}

func newCounting() *counting {
	return &counting{VideoOps: cpu.New(), root: map[engine.Tensor]engine.Tensor{}, live: map[engine.Tensor]string{}, made: map[string]int{}}
}

func (c *counting) record(op string, t engine.Tensor) engine.Tensor {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.root[t] = t
	c.live[t] = op
	c.made[op]++
	c.peak = max(c.peak, len(c.live))
	return t
}

// alive is the number of live tensors and the ops that made them.
func (c *counting) alive() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := map[string]int{}
	for _, op := range c.live {
		ops[op]++
	}
	return len(c.live), ops
}

func (c *counting) Free(ts ...engine.Tensor) {
	c.mu.Lock()
	for _, t := range ts {
		if r, ok := c.root[t]; ok {
			delete(c.live, r)
		}
	}
	c.mu.Unlock()
	c.VideoOps.Free(ts...)
}

func (c *counting) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	v := c.VideoOps.Reshape(x, shape...)
	c.mu.Lock()
	c.root[v] = c.root[x]
	c.mu.Unlock()
	return v
}

func (c *counting) FromHost(d []float32, shape ...int) engine.Tensor {
	return c.record("FromHost", c.VideoOps.FromHost(d, shape...))
}
func (c *counting) Weight(i gguf.TensorInfo, d []byte) engine.Tensor {
	return c.record("Weight", c.VideoOps.Weight(i, d))
}
func (c *counting) Cast(t engine.Tensor, d engine.DType) engine.Tensor {
	return c.record("Cast", c.VideoOps.Cast(t, d))
}
func (c *counting) Linear(x, w, b engine.Tensor) engine.Tensor {
	return c.record("Linear", c.VideoOps.Linear(x, w, b))
}
func (c *counting) LayerNorm(x, w, b engine.Tensor, eps float32) engine.Tensor {
	return c.record("LayerNorm", c.VideoOps.LayerNorm(x, w, b, eps))
}
func (c *counting) RMSNorm(x, w engine.Tensor, eps float32) engine.Tensor {
	return c.record("RMSNorm", c.VideoOps.RMSNorm(x, w, eps))
}
func (c *counting) Modulate(x, shift, scale engine.Tensor) engine.Tensor {
	return c.record("Modulate", c.VideoOps.Modulate(x, shift, scale))
}
func (c *counting) Add(a, b engine.Tensor) engine.Tensor {
	return c.record("Add", c.VideoOps.Add(a, b))
}
func (c *counting) Mul(a, b engine.Tensor) engine.Tensor {
	return c.record("Mul", c.VideoOps.Mul(a, b))
}
func (c *counting) GELU(x engine.Tensor) engine.Tensor { return c.record("GELU", c.VideoOps.GELU(x)) }
func (c *counting) SiLU(x engine.Tensor) engine.Tensor { return c.record("SiLU", c.VideoOps.SiLU(x)) }
func (c *counting) Rows(t engine.Tensor, ids []int32) engine.Tensor {
	return c.record("Rows", c.VideoOps.Rows(t, ids))
}
func (c *counting) Slice(t engine.Tensor, from, to int) engine.Tensor {
	return c.record("Slice", c.VideoOps.Slice(t, from, to))
}
func (c *counting) Concat(ts ...engine.Tensor) engine.Tensor {
	return c.record("Concat", c.VideoOps.Concat(ts...))
}
func (c *counting) Attention(q, k, v engine.Tensor, o engine.AttentionOpts) engine.Tensor {
	return c.record("Attention", c.VideoOps.Attention(q, k, v, o))
}
func (c *counting) Conv3d(x, prev, w, b engine.Tensor, o engine.ConvOpts) engine.Tensor {
	return c.record("Conv3d", c.VideoOps.Conv3d(x, prev, w, b, o))
}
func (c *counting) ChannelNorm(x, g engine.Tensor, silu bool) engine.Tensor {
	return c.record("ChannelNorm", c.VideoOps.ChannelNorm(x, g, silu))
}
func (c *counting) FrameAttention(qkv engine.Tensor) engine.Tensor {
	return c.record("FrameAttention", c.VideoOps.FrameAttention(qkv))
}
func (c *counting) Frames(x engine.Tensor, from, to int) engine.Tensor {
	return c.record("Frames", c.VideoOps.Frames(x, from, to))
}
func (c *counting) ConcatFrames(a, b engine.Tensor) engine.Tensor {
	return c.record("ConcatFrames", c.VideoOps.ConcatFrames(a, b))
}
func (c *counting) InterleaveFrames(x engine.Tensor) engine.Tensor {
	return c.record("InterleaveFrames", c.VideoOps.InterleaveFrames(x))
}
