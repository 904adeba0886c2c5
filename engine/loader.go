package engine

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/gguf"
)

// Loader moves named tensors of a model file onto a backend, checking each
// one's shape as it goes, and remembers them so the model can be freed whole.
// Its methods panic with *Error (recovered by the model constructor's Catch)
// naming the tensor and the file shape when something is wrong.
type Loader struct {
	B      Backend
	Src    gguf.Source
	loaded []Tensor
}

// NewLoader returns a loader reading src onto b.
func NewLoader(b Backend, src gguf.Source) *Loader { return &Loader{B: b, Src: src} }

// Has reports whether the file holds a tensor of that name.
func (l *Loader) Has(name string) bool { _, ok := l.Src.Lookup(name); return ok }

// Shape returns the PyTorch-order shape of a tensor in the file, or nil if absent.
func (l *Loader) Shape(name string) []int64 {
	ti, ok := l.Src.Lookup(name)
	if !ok {
		return nil
	}
	return ti.Shape
}

// Weight loads a tensor that must exist and have the given shape. Leading
// dimensions of size 1 are ignored on both sides, so a modulation stored as
// (1, 6, dim) matches want (6, dim). The returned tensor has the shape want.
func (l *Loader) Weight(name string, want ...int) Tensor {
	ti, ok := l.Src.Lookup(name)
	if !ok {
		Failf("load", "tensor %q is missing from the model file (wrong model kind or an incomplete file?)", name)
	}
	return l.load(ti, want)
}

// Optional loads a tensor like Weight, or returns nil when the file lacks it.
func (l *Loader) Optional(name string, want ...int) Tensor {
	ti, ok := l.Src.Lookup(name)
	if !ok {
		return nil
	}
	return l.load(ti, want)
}

func (l *Loader) load(ti gguf.TensorInfo, want []int) Tensor {
	if !sameShape(ti.Shape, want) {
		Failf("load", "tensor %q has shape %v in the file, the model expects %v (wrong model kind or variant?)", ti.Name, ti.Shape, want)
	}
	data, err := l.Src.Data(ti.Name)
	if err != nil {
		Failf("load", "reading tensor %q: %v", ti.Name, err)
	}
	info := ti
	info.Shape = make([]int64, len(want))
	for i, d := range want {
		info.Shape[i] = int64(d)
	}
	t := l.B.Weight(info, data)
	l.loaded = append(l.loaded, t)
	l.evict(ti.Name)
	return t
}

// Evicter is implemented by sources that can drop a tensor's bytes from host
// memory once they were copied (gguf.File: out of the process and the page
// cache), so a loaded model does not keep a second copy of itself in RAM.
type Evicter interface {
	Evict(name string) error
}

// SourceRetainer is implemented by backends whose Weight keeps reading the
// source's bytes after it returns (a block streamed from the file); the
// loader does not evict what they load.
type SourceRetainer interface {
	RetainsSource() bool
}

// evict releases a loaded tensor's bytes from host memory when the source
// can and the backend does not read them later. It is best effort.
func (l *Loader) evict(name string) {
	e, ok := l.Src.(Evicter)
	if !ok {
		return
	}
	if r, ok := l.B.(SourceRetainer); ok && r.RetainsSource() {
		return
	}
	_ = e.Evict(name)
}

// Loaded returns every tensor loaded so far, for freeing the model.
func (l *Loader) Loaded() []Tensor { return slices.Clone(l.loaded) }

// Holds reports whether t is one of the tensors this loader made.
func (l *Loader) Holds(t Tensor) bool { return slices.Contains(l.loaded, t) }

// Replace makes the loader own new in place of old (a weight rewritten after
// loading, such as a merged LoRA): FreeAll frees new, not old. It reports
// whether old was one of the loader's tensors; the caller frees old.
func (l *Loader) Replace(old, new Tensor) bool {
	for i, t := range l.loaded {
		if t == old {
			l.loaded[i] = new
			return true
		}
	}
	return false
}

// FreeAll releases every tensor this loader made.
func (l *Loader) FreeAll() {
	l.B.Free(l.loaded...)
	l.loaded = nil
}

func sameShape(file []int64, want []int) bool {
	for len(file) > 0 && file[0] == 1 {
		file = file[1:]
	}
	for len(want) > 0 && want[0] == 1 {
		want = want[1:]
	}
	if len(file) != len(want) {
		return false
	}
	for i := range file {
		if file[i] != int64(want[i]) {
			return false
		}
	}
	return true
}

// ShapeString formats a shape like [2 3 4].
func ShapeString(s []int) string { return fmt.Sprint(s) }
