package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// readChunk is the decoder's read-ahead window for files read through an
// io.ReaderAt.
const readChunk = 64 << 10

// decoder reads the GGUF header sequentially from an io.ReaderAt (or a
// memory mapping), checking every read against the file size.
type decoder struct {
	r     io.ReaderAt
	size  int64 // file size
	limit int64 // end of the bytes the header may occupy: min(size, MaxHeaderBytes)
	off   int64 // absolute offset of the next byte
	// buf holds file bytes [bufOff, bufOff+len(buf)). For a mapped file it is
	// the whole file and never refilled.
	buf    []byte
	bufOff int64
	mapped bool

	// The record being decoded, for error messages: kind "kv" or "tensor"
	// (empty in the fixed header), its index and, once read, its name.
	recKind string
	recIdx  int
	recName string

	// nested counts the array values decoded inside other arrays. Each costs
	// far more memory than its 12 file bytes, so it has its own cap
	// (maxNestedValues) besides MaxHeaderBytes.
	nested int
}

// record sets the record that following errors refer to.
func (d *decoder) record(kind string, idx int) {
	d.recKind, d.recIdx, d.recName = kind, idx, ""
}

// field names a field of the current record for an error message; it is
// only called on error paths, so that parsing allocates no names.
func (d *decoder) field(suffix string) string {
	switch {
	case d.recKind == "":
		return suffix
	case d.recName == "":
		return fmt.Sprintf("%s[%d]%s", d.recKind, d.recIdx, suffix)
	}
	return fmt.Sprintf("%s[%d] (%s)%s", d.recKind, d.recIdx, Quote(d.recName), suffix)
}

// errAt makes a *FormatError for a field of the current record.
func (d *decoder) errAt(off int64, suffix, format string, args ...any) *FormatError {
	return formatErr(off, d.field(suffix), format, args...)
}

// MaxHeaderBytes bounds the metadata and tensor-info sections of a file.
// Real headers are far smaller (a 256k-token tokenizer takes a few MB); the
// bound keeps a corrupt count or length inside a multi-gigabyte file from
// making the reader consume gigabytes of tensor data as metadata.
const MaxHeaderBytes = 256 << 20

// maxNestedValues bounds the arrays nested inside metadata arrays. Real files
// have few or none; an empty nested array costs 12 bytes of file but over 100
// bytes of memory, so MaxHeaderBytes alone would let a header claim gigabytes.
const maxNestedValues = 1 << 20

func newDecoder(r io.ReaderAt, size int64) *decoder {
	return &decoder{r: r, size: size, limit: min(size, MaxHeaderBytes)}
}

func newMappedDecoder(data []byte) *decoder {
	size := int64(len(data))
	return &decoder{buf: data, size: size, limit: min(size, MaxHeaderBytes), mapped: true}
}

// remaining is the number of header bytes that may still follow the
// current offset: up to the end of the file or MaxHeaderBytes.
func (d *decoder) remaining() int64 { return d.limit - d.off }

// where describes the bound remaining() checks against, for messages.
func (d *decoder) where() string {
	if d.limit < d.size {
		return fmt.Sprintf("before the %d-byte header limit", d.limit)
	}
	return fmt.Sprintf("in the %d-byte file", d.size)
}

// capHint is the capacity to reserve for n elements of about elemBytes
// each: n, but at most about 1 MiB worth, so that a large count costs
// memory only as its elements are actually read.
func capHint(n uint64, elemBytes int) int {
	return int(min(n, uint64((1<<20)/elemBytes+1)))
}

// next returns the next n bytes of field and advances past them. The slice
// is only valid until the next call (it may alias the read-ahead buffer).
func (d *decoder) next(n int64, field string) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, d.errAt(d.off, field, "needs %d bytes but only %d remain %s", n, d.remaining(), d.where())
	}
	if d.off >= d.bufOff && d.off+n <= d.bufOff+int64(len(d.buf)) {
		s := d.off - d.bufOff
		d.off += n
		return d.buf[s : s+n : s+n], nil
	}
	if d.mapped {
		// Unreachable: a mapped buffer covers the whole file and n was checked.
		return nil, d.errAt(d.off, field, "internal error: read outside the mapping")
	}
	want := n
	if want < readChunk {
		want = min(int64(readChunk), d.remaining())
	}
	var p []byte
	if n <= readChunk {
		if int64(cap(d.buf)) < want {
			d.buf = make([]byte, want) // at most readChunk, and no more than the file holds
		}
		p = d.buf[:want]
	} else {
		// A large string: read it into its own buffer (n was checked against
		// the file size, so this allocation is bounded by the file).
		p = make([]byte, want)
	}
	if m, err := d.r.ReadAt(p, d.off); m < len(p) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gguf: reading %s at offset %d: %w", d.field(field), d.off, err)
	}
	if n <= readChunk {
		d.buf, d.bufOff = p, d.off
	}
	d.off += n
	return p[:n:n], nil
}

func (d *decoder) u8(field string) (uint8, error) {
	p, err := d.next(1, field)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (d *decoder) u16(field string) (uint16, error) {
	p, err := d.next(2, field)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (d *decoder) u32(field string) (uint32, error) {
	p, err := d.next(4, field)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

func (d *decoder) u64(field string) (uint64, error) {
	p, err := d.next(8, field)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

// str reads a u64 length and that many bytes.
func (d *decoder) str(field string) (string, error) {
	at := d.off
	if d.remaining() < 8 {
		return "", d.errAt(at, field+".length", "needs 8 bytes but only %d remain %s", d.remaining(), d.where())
	}
	n, err := d.u64(field)
	if err != nil {
		return "", err
	}
	if n > uint64(d.remaining()) {
		return "", d.errAt(at, field+".length", "string length %d exceeds the %d bytes left %s", n, d.remaining(), d.where())
	}
	p, err := d.next(int64(n), field)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// maxNesting bounds nested arrays so that a hostile file cannot exhaust the
// stack (each level costs 12 bytes of file, so the file size alone would
// allow millions).
const maxNesting = 64

// value reads one metadata value of type t.
func (d *decoder) value(t ValueType, field string, depth int) (Value, error) {
	at := d.off
	switch t {
	case ValueUint8, ValueBool:
		x, err := d.u8(field)
		if t == ValueBool && x != 0 {
			x = 1 // ggml reads any nonzero byte as true
		}
		return Value{typ: t, bits: uint64(x)}, err
	case ValueInt8:
		x, err := d.u8(field)
		return Value{typ: t, bits: uint64(int64(int8(x)))}, err
	case ValueUint16:
		x, err := d.u16(field)
		return Value{typ: t, bits: uint64(x)}, err
	case ValueInt16:
		x, err := d.u16(field)
		return Value{typ: t, bits: uint64(int64(int16(x)))}, err
	case ValueUint32, ValueFloat32:
		x, err := d.u32(field)
		return Value{typ: t, bits: uint64(x)}, err
	case ValueInt32:
		x, err := d.u32(field)
		return Value{typ: t, bits: uint64(int64(int32(x)))}, err
	case ValueUint64, ValueInt64, ValueFloat64:
		x, err := d.u64(field)
		return Value{typ: t, bits: x}, err
	case ValueString:
		s, err := d.str(field)
		return Value{typ: t, str: s}, err
	case ValueArray:
		return d.array(field, depth+1)
	}
	return Value{}, d.errAt(at, field, "unknown metadata value type %d", uint32(t))
}

// array reads an ARRAY value's element type, count and elements.
func (d *decoder) array(field string, depth int) (Value, error) {
	at := d.off
	if depth > maxNesting {
		return Value{}, d.errAt(at, field, "arrays nested deeper than %d levels", maxNesting)
	}
	if d.remaining() < 12 {
		return Value{}, d.errAt(at, field, "array header needs 12 bytes but only %d remain %s", d.remaining(), d.where())
	}
	et32, err := d.u32(field)
	if err != nil {
		return Value{}, err
	}
	et := ValueType(et32)
	if !et.Valid() {
		return Value{}, d.errAt(at, field+".type", "unknown array element type %d", et32)
	}
	at = d.off
	cnt, err := d.u64(field)
	if err != nil {
		return Value{}, err
	}
	// Each element takes at least minSize bytes: reject counts the rest of
	// the file cannot hold before allocating anything.
	if ms := uint64(et.minSize()); cnt > uint64(d.remaining())/ms {
		return Value{}, d.errAt(at, field+".count", "%d %s elements need at least %d bytes but only %d remain %s",
			cnt, et, satMul(cnt, ms), d.remaining(), d.where())
	}
	n := int(cnt)
	v := Value{typ: ValueArray, elem: et}
	if sz := et.fixedSize(); sz > 0 {
		v.arr, err = d.fixedArray(et, n, sz, field)
		return v, err
	}
	switch et {
	case ValueString:
		a := make([]string, 0, capHint(cnt, 16))
		for range n {
			s, err := d.str(field)
			if err != nil {
				return Value{}, err
			}
			a = append(a, s)
		}
		v.arr = a
	case ValueArray:
		if d.nested += n; d.nested > maxNestedValues {
			return Value{}, d.errAt(at, field+".count", "more than %d nested array values in the header (a corrupt or hostile file)", maxNestedValues)
		}
		a := make([]Value, 0, capHint(cnt, 64))
		sub := field + "[]" // the element's name is built only when it has an error
		for i := range n {
			e, err := d.array(sub, depth+1)
			if err != nil {
				var fe *FormatError
				if errors.As(err, &fe) {
					// Number the element in the part after the record's
					// name, which may itself contain sub.
					rec := d.field("")
					if rest, ok := strings.CutPrefix(fe.Field, rec); ok {
						fe.Field = rec + strings.Replace(rest, sub, fmt.Sprintf("%s[%d]", field, i), 1)
					}
				}
				return Value{}, err
			}
			a = append(a, e)
		}
		v.arr = a
	}
	return v, nil
}

// fixedArray decodes n elements of a fixed-size type into a typed slice.
func (d *decoder) fixedArray(et ValueType, n, sz int, field string) (any, error) {
	le := binary.LittleEndian
	switch et {
	case ValueUint8:
		return decodeFixed(d, n, 1, field, func(p []byte) uint8 { return p[0] })
	case ValueInt8:
		return decodeFixed(d, n, 1, field, func(p []byte) int8 { return int8(p[0]) })
	case ValueBool:
		return decodeFixed(d, n, 1, field, func(p []byte) bool { return p[0] != 0 })
	case ValueUint16:
		return decodeFixed(d, n, 2, field, le.Uint16)
	case ValueInt16:
		return decodeFixed(d, n, 2, field, func(p []byte) int16 { return int16(le.Uint16(p)) })
	case ValueUint32:
		return decodeFixed(d, n, 4, field, le.Uint32)
	case ValueInt32:
		return decodeFixed(d, n, 4, field, func(p []byte) int32 { return int32(le.Uint32(p)) })
	case ValueFloat32:
		return decodeFixed(d, n, 4, field, func(p []byte) float32 { return math.Float32frombits(le.Uint32(p)) })
	case ValueUint64:
		return decodeFixed(d, n, 8, field, le.Uint64)
	case ValueInt64:
		return decodeFixed(d, n, 8, field, func(p []byte) int64 { return int64(le.Uint64(p)) })
	case ValueFloat64:
		return decodeFixed(d, n, 8, field, func(p []byte) float64 { return math.Float64frombits(le.Uint64(p)) })
	}
	return nil, d.errAt(d.off, field, "internal error: %s is not a fixed-size type", et)
}

// decodeFixed reads n elements of sz bytes each, in chunks of the read-ahead
// window, converting each with conv.
func decodeFixed[T any](d *decoder, n, sz int, field string, conv func([]byte) T) ([]T, error) {
	out := make([]T, 0, capHint(uint64(n), sz))
	for left := n; left > 0; {
		k := min(left, readChunk/sz)
		p, err := d.next(int64(k*sz), field)
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(p); i += sz {
			out = append(out, conv(p[i:i+sz]))
		}
		left -= k
	}
	return out, nil
}

// satMul multiplies without wrapping (saturates at MaxUint64), for messages.
func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}
