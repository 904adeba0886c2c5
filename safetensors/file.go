// Package safetensors reads and writes safetensors files: the VAE, text
// encoder and LoRA checkpoints that come from ComfyUI and Hugging Face.
//
// # Format
//
// A safetensors file is, in this order:
//
//	u64 little-endian   N, the length of the header in bytes
//	N bytes             the header: a UTF-8 JSON object, possibly padded with spaces
//	the rest            the data region: every tensor's bytes, row-major, little-endian
//
// The header maps each tensor name to
//
//	{"dtype": "F16", "shape": [4096, 4096], "data_offsets": [BEGIN, END]}
//
// where shape is in PyTorch order (outermost first, [] for a scalar) and
// BEGIN/END are byte offsets relative to the start of the data region. The
// optional key "__metadata__" holds a string-to-string map. The JSON order of
// the keys carries no meaning; tensors are listed in the order of their data.
//
// # Reading
//
// [Open] memory-maps a file (on unix and Windows; elsewhere it reads tensors
// from the file on demand); [NewFile] reads from any io.ReaderAt. Neither
// reads the data region to open a file, so a header-only use (listing the
// tensors, detecting the model kind) costs the header's bytes, not the file's.
// Both check the whole header before returning: the header length against the file, the
// JSON, every dtype, that each tensor's byte range matches dtype × shape
// (without integer overflow), lies inside the data region and overlaps no other
// tensor. Problems are reported as a *[FormatError] naming the tensor and the
// field. A *File implements gguf.Source, so loaders treat safetensors and GGUF
// files alike; dtypes map to ggml types (F8_E4M3, F8_E5M2 and U8 to the wan22
// extension types, BOOL to U8).
//
// ComfyUI files need nothing special here: the `spiece_model` tokenizer is a
// U8 tensor, and "scaled fp8" checkpoints are F8_E4M3 weights next to F32
// `*.scale_weight` scalars and an empty `scaled_fp8` marker tensor; the
// loaders interpret them.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
	"strconv"

	"github.com/wan22/wan22/gguf"
)

// MaxHeaderSize bounds the JSON header. Real headers are well under 1 MB (the
// umT5-XXL encoder's is about 30 KB); the bound keeps a corrupt length field
// from asking for gigabytes.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// FormatError reports a malformed or unsupported safetensors file.
type FormatError struct {
	// Offset is the byte offset in the file where the problem was found
	// (for a header entry, where its JSON value starts), or -1 if unknown.
	Offset int64
	// Tensor names the tensor concerned, or "" for the file as a whole.
	Tensor string
	// Field names the header field concerned: "header length", "header",
	// "dtype", "shape", "data_offsets", "__metadata__" or "data".
	Field string
	// Msg says what is wrong and, where it helps, what to do.
	Msg string
}

func (e *FormatError) Error() string {
	s := "safetensors: "
	if e.Tensor != "" {
		s += "tensor " + gguf.Quote(e.Tensor) + ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	return s
}

// ErrClosed is returned by data accessors after Close.
var ErrClosed = errors.New("safetensors: file is closed")

// File is an open safetensors file. Its methods are safe for concurrent use,
// except Close, which must not race with the others.
type File struct {
	tensors  []gguf.TensorInfo // in data (offset) order
	index    map[string]int    // name → position in tensors
	metadata map[string]string
	// dataStart is the absolute offset of the data region (8 + header length).
	dataStart int64

	r      io.ReaderAt // used when mapped is nil
	mapped []byte      // the whole file when memory-mapped
	// release unmaps mapped, or closes the file Open reads r from; nil for NewFile.
	release func() error
	closed  bool
}

// compile-time check that *File is a gguf.Source.
var _ gguf.Source = (*File)(nil)

// NewFile reads the header of a safetensors file from r and checks it. The
// tensors' data is read from r on demand. When r has a Size() int64 method
// (bytes.Reader, io.SectionReader) or is an *os.File, the data region is
// checked against the reader's size; otherwise NewFile probes the last byte
// the header refers to.
func NewFile(r io.ReaderAt) (*File, error) {
	size := int64(-1)
	switch v := r.(type) {
	case interface{ Size() int64 }:
		size = v.Size()
	case *os.File:
		st, err := v.Stat()
		if err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		size = st.Size()
	}
	f, err := parse(r, size)
	if err != nil {
		return nil, err
	}
	f.r = r
	return f, nil
}

// Open memory-maps the safetensors file at path and checks its header. Only
// the pages of the length prefix and the header are read: tensor data is paged
// in when Data or Section is used, so opening a file to look at its header
// costs the same for a 100 KB file as for a 28 GB one. The views returned by
// Data stay valid until Close. On platforms where this package cannot map
// files (neither unix nor Windows), the file stays open and each tensor is read
// from it on demand, as with [NewFile]; Close closes it.
func Open(path string) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	keepOpen := false
	defer func() {
		if !keepOpen {
			osf.Close()
		}
	}()
	st, err := osf.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	size := st.Size()
	if size < 8 { // also keeps an empty file from being mapped, which Windows refuses
		return nil, fmt.Errorf("safetensors: %s: %w", path, &FormatError{Offset: 0, Field: "header length",
			Msg: fmt.Sprintf("the file has %d bytes, fewer than the 8-byte length prefix: it is empty or truncated", size)})
	}
	if uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: %d bytes is too large to map on this platform", path, size)
	}
	data, unmap, err := mapFile(osf, int(size))
	if errors.Is(err, errors.ErrUnsupported) {
		f, err := fromFile(osf, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keepOpen = true
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	// The mapping outlives osf's descriptor or handle, which the deferred
	// Close releases.
	f, err := parse(bytes.NewReader(data), size)
	if err != nil {
		_ = unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapped = data
	f.release = unmap
	return f, nil
}

// fromFile checks the header of osf, a regular file of size bytes, and
// returns a File that reads tensors from osf on demand and closes it on
// Close. It reads nothing of the data region. On error osf stays open.
func fromFile(osf *os.File, size int64) (*File, error) {
	f, err := parse(osf, size)
	if err != nil {
		return nil, err
	}
	f.r = osf
	f.release = osf.Close
	return f, nil
}

// Tensors lists every tensor in the order of its data in the file. The
// slice must not be modified.
func (f *File) Tensors() []gguf.TensorInfo { return f.tensors }

// Lookup finds a tensor by name.
func (f *File) Lookup(name string) (gguf.TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return gguf.TensorInfo{}, false
	}
	return f.tensors[i], true
}

// Metadata returns a copy of the header's "__metadata__" map (empty when the
// file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// DataOffset is the absolute file offset of the data region, which the
// header's data_offsets are relative to.
func (f *File) DataOffset() int64 { return f.dataStart }

// Data returns a tensor's bytes. For a memory-mapped file it is a view into
// the mapping, valid until Close, that must not be modified; for a file
// opened with NewFile (or with Open where files are not mapped) it is a fresh
// copy read from the reader.
func (f *File) Data(name string) ([]byte, error) {
	ti, err := f.find(name)
	if err != nil {
		return nil, err
	}
	if f.mapped != nil {
		end := ti.Offset + ti.Size
		return f.mapped[ti.Offset:end:end], nil
	}
	buf := make([]byte, ti.Size)
	if err := readAt(f.r, buf, ti.Offset); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{Offset: ti.Offset, Tensor: name, Field: "data",
				Msg: "the file ends inside this tensor's data: it is truncated"}
		}
		return nil, fmt.Errorf("safetensors: reading tensor %s: %w", gguf.Quote(name), err)
	}
	return buf, nil
}

// Section returns a reader over one tensor's bytes, for streaming a large
// tensor without holding all of it. For a memory-mapped file the reader must
// not be used after Close.
func (f *File) Section(name string) (*io.SectionReader, error) {
	ti, err := f.find(name)
	if err != nil {
		return nil, err
	}
	if f.mapped != nil {
		return io.NewSectionReader(bytes.NewReader(f.mapped), ti.Offset, ti.Size), nil
	}
	return io.NewSectionReader(f.r, ti.Offset, ti.Size), nil
}

// find looks a tensor up for a data accessor.
func (f *File) find(name string) (gguf.TensorInfo, error) {
	if f.closed {
		return gguf.TensorInfo{}, ErrClosed
	}
	ti, ok := f.Lookup(name)
	if !ok {
		return gguf.TensorInfo{}, fmt.Errorf("safetensors: no tensor named %s in this file", gguf.Quote(name))
	}
	return ti, nil
}

// Close releases the memory mapping or the file that Open opened. Views
// returned by Data must not be used afterwards. Closing a File made by
// NewFile does not close its reader. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.mapped = nil
	if f.release != nil {
		err := f.release()
		f.release = nil
		return err
	}
	return nil
}

// parse reads and checks the header. size is the file size, or -1 if unknown.
func parse(r io.ReaderAt, size int64) (*File, error) {
	var prefix [8]byte
	if err := readAt(r, prefix[:], 0); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{Offset: 0, Field: "header length",
				Msg: "the file is shorter than the 8-byte length prefix: it is empty or truncated"}
		}
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n < 2 { // the smallest header is "{}"
		return nil, &FormatError{Offset: 0, Field: "header length",
			Msg: fmt.Sprintf("%d is too small for a JSON header: this is not a safetensors file", n)}
	}
	if n > MaxHeaderSize {
		return nil, &FormatError{Offset: 0, Field: "header length",
			Msg: fmt.Sprintf("%d bytes exceeds the %d-byte limit: this is not a safetensors file, or it is corrupt", n, MaxHeaderSize)}
	}
	if size >= 0 && n > uint64(size-8) {
		return nil, &FormatError{Offset: 0, Field: "header length",
			Msg: fmt.Sprintf("the header claims %d bytes but only %d follow the length prefix: the file is truncated or not a safetensors file", n, size-8)}
	}
	hdr := make([]byte, n)
	if err := readAt(r, hdr, 8); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{Offset: 8, Field: "header",
				Msg: fmt.Sprintf("the file ends inside the %d-byte header: it is truncated", n)}
		}
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	if hdr[0] != '{' {
		return nil, &FormatError{Offset: 8, Field: "header",
			Msg: fmt.Sprintf("starts with byte %#02x, not '{': this is not a safetensors file", hdr[0])}
	}
	dataStart := 8 + int64(n)
	dataLen := int64(-1)
	if size >= 0 {
		dataLen = size - dataStart
	}
	f, maxEnd, err := parseHeader(hdr, dataStart, dataLen)
	if err != nil {
		return nil, err
	}
	if dataLen < 0 && maxEnd > 0 {
		// Size unknown: make sure the last byte the header refers to exists.
		var b [1]byte
		if err := readAt(r, b[:], dataStart+maxEnd-1); err != nil {
			return nil, &FormatError{Offset: dataStart + maxEnd - 1, Field: "data",
				Msg: fmt.Sprintf("the header refers to %d bytes of data but the file ends before that: it is truncated (%v)", maxEnd, err)}
		}
	}
	return f, nil
}

// readAt fills p from r at off. io.ReaderAt may report io.EOF along with a
// full read that ends at the end of the input; that is success here.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseHeader decodes and checks the JSON header. dataStart is the absolute
// offset of the data region and dataLen its length (-1 when unknown). It
// returns the file and the end of the last tensor relative to dataStart.
func parseHeader(hdr []byte, dataStart, dataLen int64) (*File, int64, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	jsonErr := func(err error) error {
		var se *json.SyntaxError
		off := int64(8) + dec.InputOffset()
		if errors.As(err, &se) {
			off = 8 + se.Offset
		}
		return &FormatError{Offset: off, Field: "header", Msg: fmt.Sprintf("invalid JSON: %v", err)}
	}
	if tok, err := dec.Token(); err != nil {
		return nil, 0, jsonErr(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, &FormatError{Offset: 8, Field: "header", Msg: "is not a JSON object"}
	}

	f := &File{index: map[string]int{}, metadata: map[string]string{}, dataStart: dataStart}
	seenMeta := false
	for dec.More() {
		keyOff := 8 + dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, jsonErr(err)
		}
		name, ok := tok.(string)
		if !ok { // cannot happen for valid JSON; keep the check cheap
			return nil, 0, &FormatError{Offset: keyOff, Field: "header", Msg: "object key is not a string"}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, jsonErr(err)
		}
		valOff := 8 + dec.InputOffset() - int64(len(raw))
		if name == metadataKey {
			if seenMeta {
				return nil, 0, &FormatError{Offset: keyOff, Field: metadataKey, Msg: "appears twice in the header"}
			}
			seenMeta = true
			if err := parseMetadata(raw, valOff, f.metadata); err != nil {
				return nil, 0, err
			}
			continue
		}
		if name == "" {
			return nil, 0, &FormatError{Offset: keyOff, Field: "header", Msg: "a tensor has an empty name"}
		}
		if _, dup := f.index[name]; dup {
			return nil, 0, &FormatError{Offset: keyOff, Tensor: name, Field: "header", Msg: "the tensor name appears twice"}
		}
		ti, err := parseEntry(name, raw, valOff, dataLen)
		if err != nil {
			return nil, 0, err
		}
		ti.Offset += dataStart
		f.index[name] = len(f.tensors)
		f.tensors = append(f.tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, 0, jsonErr(err)
	}
	// Only whitespace (the writer's padding) may follow the object.
	if rest := hdr[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, 0, &FormatError{Offset: 8 + dec.InputOffset(), Field: "header",
			Msg: "unexpected bytes after the JSON object"}
	}

	// File order, then the no-overlap check.
	sort.SliceStable(f.tensors, func(i, j int) bool {
		a, b := f.tensors[i], f.tensors[j]
		if a.Offset != b.Offset {
			return a.Offset < b.Offset
		}
		return a.Size < b.Size
	})
	covered := dataStart // end of the last non-empty tensor seen
	maxEnd := dataStart
	prev := ""
	for i, ti := range f.tensors {
		f.index[ti.Name] = i
		maxEnd = max(maxEnd, ti.Offset+ti.Size)
		if ti.Size == 0 {
			continue
		}
		if ti.Offset < covered {
			return nil, 0, &FormatError{Offset: -1, Tensor: ti.Name, Field: "data_offsets",
				Msg: fmt.Sprintf("bytes [%d, %d) of the data region overlap tensor %s",
					ti.Offset-dataStart, ti.Offset-dataStart+ti.Size, gguf.Quote(prev))}
		}
		covered = ti.Offset + ti.Size
		prev = ti.Name
	}
	return f, maxEnd - dataStart, nil
}

// parseMetadata decodes the "__metadata__" object, whose values must be strings.
func parseMetadata(raw json.RawMessage, off int64, into map[string]string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return &FormatError{Offset: off, Field: metadataKey, Msg: "is not a JSON object of strings"}
	}
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return &FormatError{Offset: off, Field: metadataKey,
				Msg: fmt.Sprintf("value of key %s is not a string %s", gguf.Quote(k), jsonText(v))}
		}
		into[k] = s
	}
	return nil
}

// parseEntry decodes and checks one tensor entry. The returned Offset is
// relative to the data region.
func parseEntry(name string, raw json.RawMessage, off, dataLen int64) (gguf.TensorInfo, error) {
	bad := func(field, format string, args ...any) error {
		return &FormatError{Offset: off, Tensor: name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	// Unknown keys are ignored, as other readers do.
	var e struct {
		Dtype       json.RawMessage `json:"dtype"`
		Shape       json.RawMessage `json:"shape"`
		DataOffsets json.RawMessage `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || bytes.Equal(raw, []byte("null")) {
		return gguf.TensorInfo{}, bad("header", "entry is not an object with dtype, shape and data_offsets %s", jsonText(raw))
	}

	if e.Dtype == nil {
		return gguf.TensorInfo{}, bad("dtype", "missing")
	}
	var dtype string
	if err := json.Unmarshal(e.Dtype, &dtype); err != nil || e.Dtype[0] != '"' {
		return gguf.TensorInfo{}, bad("dtype", "is not a string %s", jsonText(e.Dtype))
	}
	typ, ok := dtypes[dtype]
	if !ok {
		return gguf.TensorInfo{}, bad("dtype", "%s is not supported (supported: %s); convert the tensor to one of these", gguf.Quote(dtype), supportedDtypes())
	}

	ints := func(field string, raw json.RawMessage) ([]int64, error) {
		if raw == nil {
			return nil, bad(field, "missing")
		}
		v, err := parseInts(raw)
		if err != nil {
			return nil, bad(field, "%v", err)
		}
		return v, nil
	}
	shape, err := ints("shape", e.Shape)
	if err != nil {
		return gguf.TensorInfo{}, err
	}
	offs, err := ints("data_offsets", e.DataOffsets)
	if err != nil {
		return gguf.TensorInfo{}, err
	}
	if len(offs) != 2 {
		return gguf.TensorInfo{}, bad("data_offsets", "has %d numbers, want 2 ([begin, end])", len(offs))
	}
	begin, end := offs[0], offs[1]
	if begin > end {
		return gguf.TensorInfo{}, bad("data_offsets", "begin %d is after end %d", begin, end)
	}

	// elements × element size, overflow-checked in uint64 then bounded to int64.
	elems := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(elems, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return gguf.TensorInfo{}, bad("shape", "%v has more elements than fit in 64 bits", shape)
		}
		elems = lo
	}
	hi, want := bits.Mul64(elems, uint64(typ.BlockBytes()))
	if hi != 0 || want > math.MaxInt64 {
		return gguf.TensorInfo{}, bad("shape", "%v of %s is more bytes than fit in 64 bits", shape, dtype)
	}
	if got := uint64(end - begin); got != want {
		return gguf.TensorInfo{}, bad("data_offsets", "[%d, %d] spans %d bytes but %s %v needs %d", begin, end, got, dtype, shape, want)
	}
	if dataLen >= 0 && end > dataLen {
		return gguf.TensorInfo{}, bad("data_offsets", "end %d is beyond the %d-byte data region: the file is truncated", end, dataLen)
	}
	return gguf.TensorInfo{Name: name, Type: typ, Shape: shape, Offset: begin, Size: end - begin}, nil
}

// parseInts reads a JSON array of non-negative integers that fit in int64.
// raw is one complete JSON value (the decoder checked its syntax), so
// splitting at commas cannot cut a nested value into valid integers.
func parseInts(raw json.RawMessage) ([]int64, error) {
	s := bytes.TrimSpace(raw)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("is not an array of integers %s", jsonText(raw))
	}
	inner := bytes.TrimSpace(s[1 : len(s)-1])
	if len(inner) == 0 {
		return []int64{}, nil
	}
	out := make([]int64, 0, bytes.Count(inner, []byte(","))+1)
	for i := 0; len(inner) > 0; i++ {
		elem, rest, _ := bytes.Cut(inner, []byte(","))
		inner = rest
		elem = bytes.TrimSpace(elem)
		x, err := strconv.ParseInt(string(elem), 10, 64)
		if err != nil || x < 0 {
			return nil, fmt.Errorf("element %d is not an integer in [0, 2^63) %s", i, jsonText(elem))
		}
		out = append(out, x)
	}
	return out, nil
}

// jsonText shows a JSON value of the header in an error message, quoted
// and cut by gguf.Quote: (JSON text: "[1, 2]"). JSON strings may hold C1
// controls and invalid UTF-8, which must not reach a terminal.
func jsonText(raw []byte) string {
	return "(JSON text: " + gguf.Quote(string(raw)) + ")"
}
