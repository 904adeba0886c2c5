package synthrand

import (
	"bytes"
	"fmt"

	"github.com/wan22/wan22/gguf"
)

// Source is a gguf.Source over synthetic tensors held as tiles: a tensor's
// bytes are generated when Data asks for them, the same bytes WriteGGUF
// writes for it. Benchmarks use it to load a model, or part of one, without
// a file.
type Source struct {
	infos []gguf.TensorInfo
	gen   map[string]func() []byte
}

var _ gguf.Source = (*Source)(nil)

// NewSource makes a Source of the tensors ts drawn with seed.
func NewSource(ts []Tensor, seed int64) (*Source, error) {
	tiles, err := makeTiles(ts, seed, func(n int64) int64 { return min(n, TileElems) })
	if err != nil {
		return nil, err
	}
	s := &Source{gen: map[string]func() []byte{}}
	for _, t := range ts {
		tl := tiles[key{t.Type, t.Dist}]
		size, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		start := tl.offset(t.Name, int64(len(tl.data)-tl.blockBytes))
		s.infos = append(s.infos, gguf.TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape, Size: size})
		s.gen[t.Name] = func() []byte {
			var buf bytes.Buffer
			buf.Grow(int(size))
			_ = tl.writeCircular(&buf, start, size) // writes to a bytes.Buffer do not fail
			return buf.Bytes()
		}
	}
	return s, nil
}

// Tensors lists the tensors in the order given to NewSource.
func (s *Source) Tensors() []gguf.TensorInfo { return s.infos }

// Lookup finds a tensor by name.
func (s *Source) Lookup(name string) (gguf.TensorInfo, bool) {
	for _, ti := range s.infos {
		if ti.Name == name {
			return ti, true
		}
	}
	return gguf.TensorInfo{}, false
}

// Data generates a tensor's bytes.
func (s *Source) Data(name string) ([]byte, error) {
	g, ok := s.gen[name]
	if !ok {
		return nil, fmt.Errorf("synthrand: no tensor %q", name)
	}
	return g(), nil
}

// Close does nothing.
func (s *Source) Close() error { return nil }
