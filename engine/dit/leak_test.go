package dit

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
)

// errInjected is the failure faulty makes an op raise.
var errInjected = errors.New("injected failure")

// faulty wraps the CPU backend, accounts for every tensor it makes, and can
// make the n-th op fail like a real backend running out of memory. A view
// made by Reshape shares its source's storage: freeing either releases it,
// and releasing it twice is a double free (which a device backend may not
// forgive).
type faulty struct {
	*cpu.Backend
	root    map[engine.Tensor]engine.Tensor // tensor or view → the tensor owning its storage
	live    map[engine.Tensor]string        // owning tensor → the op that made it
	ops     int                             // ops run so far
	failAt  int                             // the op that fails (1-based); 0: none
	doubles []string
}

func newFaulty() *faulty {
	return &faulty{Backend: cpu.New(), root: map[engine.Tensor]engine.Tensor{}, live: map[engine.Tensor]string{}}
}

// op counts an op and fails it when its turn has come.
func (f *faulty) op(name string) {
	f.ops++
	if f.ops == f.failAt {
		panic(&engine.Error{Op: name, Err: errInjected})
	}
}

func (f *faulty) made(op string, t engine.Tensor) engine.Tensor {
	f.root[t] = t
	f.live[t] = op
	return t
}

func (f *faulty) leaked() []string {
	var out []string
	for _, op := range f.live {
		if !strings.HasPrefix(op, "Weight") {
			out = append(out, op)
		}
	}
	return out
}

func (f *faulty) Free(ts ...engine.Tensor) {
	for _, t := range ts {
		if t == nil {
			continue
		}
		r, ok := f.root[t]
		if !ok {
			continue // not made through f
		}
		if _, live := f.live[r]; !live {
			f.doubles = append(f.doubles, fmt.Sprint(t.Shape()))
		}
		delete(f.live, r)
	}
	f.Backend.Free(ts...)
}

func (f *faulty) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	f.op("Reshape")
	v := f.Backend.Reshape(x, shape...)
	f.root[v] = f.root[x]
	return v
}

func (f *faulty) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	return f.made("Weight "+info.Name, f.Backend.Weight(info, data))
}
func (f *faulty) FromHost(d []float32, shape ...int) engine.Tensor {
	f.op("FromHost")
	return f.made("FromHost", f.Backend.FromHost(d, shape...))
}
func (f *faulty) Linear(x, w, b engine.Tensor) engine.Tensor {
	f.op("Linear")
	return f.made("Linear", f.Backend.Linear(x, w, b))
}
func (f *faulty) LayerNorm(x, w, b engine.Tensor, eps float32) engine.Tensor {
	f.op("LayerNorm")
	return f.made("LayerNorm", f.Backend.LayerNorm(x, w, b, eps))
}
func (f *faulty) RMSNorm(x, w engine.Tensor, eps float32) engine.Tensor {
	f.op("RMSNorm")
	return f.made("RMSNorm", f.Backend.RMSNorm(x, w, eps))
}
func (f *faulty) Modulate(x, shift, scale engine.Tensor) engine.Tensor {
	f.op("Modulate")
	return f.made("Modulate", f.Backend.Modulate(x, shift, scale))
}
func (f *faulty) AddGated(x, y, gate engine.Tensor) {
	f.op("AddGated")
	f.Backend.AddGated(x, y, gate)
}
func (f *faulty) Add(a, b engine.Tensor) engine.Tensor {
	f.op("Add")
	return f.made("Add", f.Backend.Add(a, b))
}
func (f *faulty) GELU(x engine.Tensor) engine.Tensor {
	f.op("GELU")
	return f.made("GELU", f.Backend.GELU(x))
}
func (f *faulty) SiLU(x engine.Tensor) engine.Tensor {
	f.op("SiLU")
	return f.made("SiLU", f.Backend.SiLU(x))
}
func (f *faulty) Slice(x engine.Tensor, from, to int) engine.Tensor {
	f.op("Slice")
	return f.made("Slice", f.Backend.Slice(x, from, to))
}
func (f *faulty) Concat(ts ...engine.Tensor) engine.Tensor {
	f.op("Concat")
	return f.made("Concat", f.Backend.Concat(ts...))
}
func (f *faulty) Attention(q, k, v engine.Tensor, o engine.AttentionOpts) engine.Tensor {
	f.op("Attention")
	return f.made("Attention", f.Backend.Attention(q, k, v, o))
}
func (f *faulty) RotatePairs(x, cos, sin engine.Tensor, heads int) {
	f.op("RotatePairs")
	f.Backend.RotatePairs(x, cos, sin, heads)
}

// TestNoLeaks: EmbedText and Forward free every intermediate, whether they
// succeed or any one of their ops fails; Free releases everything else.
func TestNoLeaks(t *testing.T) {
	path := writeModified(t, func(ts []synthrand.Tensor) []synthrand.Tensor { return ts })
	f := newFaulty()
	m, err := Load(f, openGGUF(t, path))
	if err != nil {
		t.Fatal(err)
	}
	weights := len(f.live)
	c := m.Config
	g := Grid{T: 2, H: 2, W: 4} // 4 tokens
	x, y := randValues(c.OutDim*g.Size(), 1), randValues((c.InDim-c.OutDim)*g.Size(), 2)
	ctx := randValues(5*c.TextDim, 3)

	// Count the ops of a successful run, in each FFN mode.
	f.ops = 0
	text, err := m.EmbedText(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	embedOps := f.ops
	for _, chunk := range []int{DefaultFFNChunk, 3} {
		m.FFNChunk = chunk
		f.ops = 0
		if _, err := m.Forward(x, y, g, 500, text, nil); err != nil {
			t.Fatal(err)
		}
		forwardOps := f.ops
		if len(f.live) != weights+1 {
			t.Fatalf("chunk %d: leaked %v", chunk, f.leaked())
		}
		if chunk != 3 {
			continue // the chunked run goes through the same ops and helpers
		}
		for n := 1; n <= forwardOps; n++ {
			f.ops, f.failAt = 0, n
			_, err := m.Forward(x, y, g, 500, text, nil)
			f.failAt = 0
			if !errors.Is(err, errInjected) {
				t.Fatalf("chunk %d, op %d failing: err %v", chunk, n, err)
			}
			if len(f.live) != weights+1 {
				t.Fatalf("chunk %d, op %d failing: leaked %v", chunk, n, f.leaked())
			}
		}
	}
	text.Free()
	for n := 1; n <= embedOps; n++ {
		f.ops, f.failAt = 0, n
		_, err := m.EmbedText(ctx, 5)
		f.failAt = 0
		if !errors.Is(err, errInjected) || len(f.live) != weights {
			t.Fatalf("EmbedText op %d failing: err %v, leaked %v", n, err, f.leaked())
		}
	}
	m.Free()
	if len(f.live) != 0 || len(f.doubles) != 0 {
		t.Errorf("after Free: %d tensors live, double frees of %v", len(f.live), f.doubles)
	}
}
