package dit

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Prefix is the state-dict prefix ComfyUI checkpoints put before every DiT
// tensor name. A source whose names carry it is read as if they did not.
const Prefix = "model.diffusion_model."

// view presents a model file's tensors under their bare names and records
// which ones the model read, so that Load can refuse tensors it does not know
// (a different model variant) instead of ignoring them.
type view struct {
	src    gguf.Source
	prefix string // "" or Prefix

	mu   sync.Mutex
	used map[string]bool
	// ctx, while a load runs (loading), stops Data once it is cancelled:
	// the load then ends before its next tensor is read.
	ctx context.Context
}

// newView wraps src, stripping Prefix when the file uses it.
func newView(src gguf.Source) *view {
	v := &view{src: src, used: map[string]bool{}}
	if _, ok := src.Lookup("patch_embedding.weight"); !ok {
		if _, ok := src.Lookup(Prefix + "patch_embedding.weight"); ok {
			v.prefix = Prefix
		}
	}
	return v
}

// Tensors lists the file's tensors under their bare names; with a prefix,
// tensors without it are left out (ComfyUI's rule).
func (v *view) Tensors() []gguf.TensorInfo {
	all := v.src.Tensors()
	if v.prefix == "" {
		return all
	}
	out := make([]gguf.TensorInfo, 0, len(all))
	for _, ti := range all {
		if name, ok := strings.CutPrefix(ti.Name, v.prefix); ok {
			ti.Name = name
			out = append(out, ti)
		}
	}
	return out
}

func (v *view) Lookup(name string) (gguf.TensorInfo, bool) {
	ti, ok := v.src.Lookup(v.prefix + name)
	ti.Name = name
	return ti, ok
}

// Data returns a tensor's bytes, recording that the model read it. While a
// load runs with a cancelled context it returns that context's error.
func (v *view) Data(name string) ([]byte, error) {
	v.mu.Lock()
	ctx := v.ctx
	v.used[name] = true
	v.mu.Unlock()
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dit: loading stopped before tensor %q: %w", name, err)
		}
	}
	return v.src.Data(v.prefix + name)
}

// loading makes Data stop once ctx is cancelled, until the returned function
// is called (the load's end: a model that streams its blocks from the file
// keeps reading it afterwards).
func (v *view) loading(ctx context.Context) (done func()) {
	v.mu.Lock()
	v.ctx = ctx
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		v.ctx = nil
		v.mu.Unlock()
	}
}

// Evict forwards to the source when it can drop a tensor's bytes from memory
// (engine.Evicter).
func (v *view) Evict(name string) error {
	if e, ok := v.src.(engine.Evicter); ok {
		return e.Evict(v.prefix + name)
	}
	return nil
}

// Close does nothing: the caller owns the underlying source.
func (v *view) Close() error { return nil }

// unused returns the first tensor (in file order) whose data was never read.
func (v *view) unused() (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ti := range v.Tensors() {
		if !v.used[ti.Name] {
			return ti.Name, true
		}
	}
	return "", false
}
