package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/wan22/wan22/internal/atomicfile"
)

// Writer builds a GGUF v3 file: metadata in the order it was set, tensors
// in the order they were added, each tensor's data at the next multiple of
// the alignment (32, or the UINT32 general.alignment) and padded with zeros
// to it, exactly the packing ggml's reader requires. Files with tensors of
// more than 4 dimensions are read by gguf-py and this package but not by
// ggml's C reader, which stops at 4.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	kvs     []KV
	kvIndex map[string]int
	tensors []writerTensor
	names   map[string]bool
	err     error // first error from SetKV, reported by WriteTo
}

type writerTensor struct {
	name  string
	typ   Type
	ne    []int64 // ggml order: fastest first
	size  int64
	data  []byte                // AddTensor
	write func(io.Writer) error // AddTensorFunc; nil with nil data means zeros
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// SetKV sets a metadata value. v is a Value or a Go value NewValue accepts
// (string, bool, sized integers, int/uint as INT64/UINT64, float32, float64,
// and slices of these, nested). Setting a key again replaces its value and
// keeps its position. An unsupported value is reported by WriteTo. Nested
// arrays are valid GGUF and gguf-py reads them, but ggml's C reader rejects
// files that contain any.
func (w *Writer) SetKV(key string, v any) {
	val, err := NewValue(v)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("gguf: metadata %s: %w", Quote(key), err)
		}
		return
	}
	if i, ok := w.kvIndex[key]; ok {
		w.kvs[i].Value = val
		return
	}
	w.kvIndex[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: val})
}

// AddTensor adds a tensor with its data. shape is in PyTorch order
// (outermost first); len(data) must be the exact byte size of type t and
// shape. The data is not copied and must not change until the file is written.
func (w *Writer) AddTensor(name string, t Type, shape []int64, data []byte) error {
	wt, err := w.newTensor(name, t, shape)
	if err != nil {
		return err
	}
	if int64(len(data)) != wt.size {
		return fmt.Errorf("gguf: tensor %s: %d data bytes, want %d for %s %v", Quote(name), len(data), wt.size, t, shape)
	}
	wt.data = data
	if wt.data == nil {
		wt.data = []byte{}
	}
	w.add(wt)
	return nil
}

// AddTensorFunc adds a tensor whose data is produced while the file is
// written: write must write exactly the byte size of type t and shape (the
// Writer checks). A nil write means all-zero data, which WriteFile stores as
// a hole (a sparse file) where the file system supports it.
func (w *Writer) AddTensorFunc(name string, t Type, shape []int64, write func(io.Writer) error) error {
	wt, err := w.newTensor(name, t, shape)
	if err != nil {
		return err
	}
	wt.write = write
	w.add(wt)
	return nil
}

func (w *Writer) add(wt writerTensor) {
	w.names[strings.TrimPrefix(wt.name, StripPrefix)] = true
	w.tensors = append(w.tensors, wt)
}

// newTensor validates name, type and shape and computes the data size.
func (w *Writer) newTensor(name string, t Type, shape []int64) (writerTensor, error) {
	// Names are compared as the reader reports them, with StripPrefix removed.
	if strings.TrimPrefix(name, StripPrefix) == "" {
		return writerTensor{}, fmt.Errorf("gguf: tensor %s: a tensor has an empty name", Quote(name))
	}
	if w.names[strings.TrimPrefix(name, StripPrefix)] {
		return writerTensor{}, fmt.Errorf("gguf: duplicate tensor name %s", Quote(name))
	}
	if len(shape) > maxDims {
		return writerTensor{}, fmt.Errorf("gguf: tensor %s: %d dimensions (at most %d supported)", Quote(name), len(shape), maxDims)
	}
	if !t.Known() || t >= TypeF8E4M3 {
		return writerTensor{}, fmt.Errorf("gguf: tensor %s: %s has no ggml type id and cannot be stored in GGUF", Quote(name), t)
	}
	ne := make([]int64, len(shape))
	for i, d := range shape {
		if d < 0 {
			return writerTensor{}, fmt.Errorf("gguf: tensor %s: negative dimension in shape %v", Quote(name), shape)
		}
		ne[len(shape)-1-i] = d
	}
	ne0 := int64(1)
	if len(ne) > 0 {
		ne0 = ne[0]
	}
	if ne0%int64(t.BlockSize()) != 0 {
		return writerTensor{}, fmt.Errorf("gguf: tensor %s: innermost dimension %d is not a multiple of the %s block size %d", Quote(name), ne0, t, t.BlockSize())
	}
	size, ok := tensorBytes(t, shape)
	if !ok {
		return writerTensor{}, fmt.Errorf("gguf: tensor %s: %s %v overflows int64 bytes", Quote(name), t, shape)
	}
	return writerTensor{name: name, typ: t, ne: ne, size: size}, nil
}

// alignment returns the data alignment the file will use.
func (w *Writer) alignment() (int64, error) {
	i, ok := w.kvIndex[KeyAlignment]
	if !ok {
		return DefaultAlignment, nil
	}
	v := w.kvs[i].Value
	if v.Type() != ValueUint32 || v.bits == 0 || v.bits&(v.bits-1) != 0 {
		return 0, fmt.Errorf("gguf: %s must be a UINT32 power of two, not %s %s", KeyAlignment, v.Type(), v)
	}
	return int64(v.bits), nil
}

// header encodes everything up to the data section, padding included, and
// returns it with the alignment.
func (w *Writer) header() ([]byte, int64, error) {
	if w.err != nil {
		return nil, 0, w.err
	}
	align, err := w.alignment()
	if err != nil {
		return nil, 0, err
	}
	var b bytes.Buffer
	e := encoder{&b}
	b.WriteString(Magic)
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value)
	}
	var off int64
	for _, t := range w.tensors {
		e.str(t.name)
		e.u32(uint32(len(t.ne)))
		for _, d := range t.ne {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.typ))
		e.u64(uint64(off))
		if off > math.MaxInt64-t.size-align {
			return nil, 0, fmt.Errorf("gguf: tensor data exceeds int64 bytes at %s", Quote(t.name))
		}
		off += alignUp(t.size, align)
	}
	b.Write(make([]byte, alignUp(int64(b.Len()), align)-int64(b.Len())))
	return b.Bytes(), align, nil
}

// WriteTo writes the file to dst. Zero-filled tensors (AddTensorFunc with a
// nil function) are written as zeros.
func (w *Writer) WriteTo(dst io.Writer) (int64, error) {
	s := &sink{bw: bufio.NewWriterSize(dst, 1<<20)}
	err := w.write(s)
	return s.n, err
}

// WriteFile writes the file to path through a temporary file in the same
// folder that is renamed into place only when everything was written, so a
// failure leaves no partial output (internal/atomicfile: mode 0666 less the
// umask, like any new file). Zero-filled tensors become holes.
func (w *Writer) WriteFile(path string) (err error) {
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer tmp.Abort()
	s := &sink{bw: bufio.NewWriterSize(tmp, 1<<20), f: tmp.File}
	if err := w.write(s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Commit(); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// write emits header and data to s and flushes it.
func (w *Writer) write(s *sink) error {
	hdr, align, err := w.header()
	if err != nil {
		return err
	}
	if _, err := s.Write(hdr); err != nil {
		return fmt.Errorf("gguf: writing header: %w", err)
	}
	for _, t := range w.tensors {
		switch {
		case t.data != nil:
			_, err = s.Write(t.data)
		case t.write == nil:
			err = s.zeros(t.size)
		default:
			cw := &exactWriter{w: s, left: t.size}
			err = t.write(cw)
			if err == nil && cw.left != 0 {
				err = fmt.Errorf("write function wrote %d of %d bytes", t.size-cw.left, t.size)
			}
		}
		if err == nil {
			err = s.zeros(alignUp(t.size, align) - t.size)
		}
		if err != nil {
			return fmt.Errorf("gguf: tensor %s: %w", Quote(t.name), err)
		}
	}
	return s.finish()
}

// sink is the buffered output of a Writer, optionally able to skip zeros by
// seeking in a file.
type sink struct {
	bw *bufio.Writer
	f  *os.File // when set, zero runs become holes
	n  int64
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.bw.Write(p)
	s.n += int64(n)
	return n, err
}

var zeroChunk [64 << 10]byte

// holeMin is the smallest zero run worth seeking over.
const holeMin = 1 << 20

// zeros writes n zero bytes (or skips them, leaving a hole).
func (s *sink) zeros(n int64) error {
	if s.f != nil && n >= holeMin {
		if err := s.bw.Flush(); err != nil {
			return err
		}
		if _, err := s.f.Seek(n, io.SeekCurrent); err != nil {
			return err
		}
		s.n += n
		return nil
	}
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		if _, err := s.Write(zeroChunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// finish flushes and, for a file ending in a hole, sets its length.
func (s *sink) finish() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if s.f != nil {
		return s.f.Truncate(s.n)
	}
	return nil
}

// exactWriter passes at most left bytes through and fails on more.
type exactWriter struct {
	w    io.Writer
	left int64
}

var errTooMuch = errors.New("write function wrote more bytes than the tensor holds")

func (e *exactWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > e.left {
		return 0, errTooMuch
	}
	n, err := e.w.Write(p)
	e.left -= int64(n)
	return n, err
}

// encoder appends little-endian GGUF primitives to a buffer.
type encoder struct{ b *bytes.Buffer }

func (e encoder) u32(x uint32) { e.b.Write(binary.LittleEndian.AppendUint32(nil, x)) }
func (e encoder) u64(x uint64) { e.b.Write(binary.LittleEndian.AppendUint64(nil, x)) }
func (e encoder) str(s string) { e.u64(uint64(len(s))); e.b.WriteString(s) }

// scalar writes a non-string, non-array value from its bits.
func (e encoder) scalar(t ValueType, bits uint64) {
	var tmp [8]byte
	binary.LittleEndian.PutUint64(tmp[:], bits)
	e.b.Write(tmp[:t.fixedSize()])
}

// value writes v's payload (not its type tag).
func (e encoder) value(v Value) {
	switch v.typ {
	case ValueString:
		e.str(v.str)
	case ValueArray:
		e.u32(uint32(v.elem))
		n := v.Len()
		e.u64(uint64(n))
		if a, ok := v.arr.([]uint8); ok {
			e.b.Write(a)
			return
		}
		for i := range n {
			// A nested array element is itself elem type, count, elements.
			e.value(v.index(i))
		}
	default:
		e.scalar(v.typ, v.bits)
	}
}
