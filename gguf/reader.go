package gguf

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides the data alignment (u32).
const KeyAlignment = "general.alignment"

// KeyArchitecture is the metadata key naming the model architecture.
const KeyArchitecture = "general.architecture"

// StripPrefix is removed from tensor names that carry it (ComfyUI-style
// exports of the Wan diffusion model).
const StripPrefix = "model.diffusion_model."

// origShapePrefix marks ComfyUI's per-tensor logical shape overrides.
const origShapePrefix = "comfy.gguf.orig_shape."

// maxDims bounds n_dims (ggml allows 4; city96's Wan files use 5).
const maxDims = 16

// File is an open GGUF file: its parsed header and lazy access to tensor data.
// Its methods may be called concurrently, except Close.
type File struct {
	version    uint32
	alignment  int64
	dataOffset int64
	size       int64

	kvs     []KV
	kvIndex map[string]int

	tensors []TensorInfo
	index   map[string]int

	r      io.ReaderAt // nil when mapped
	mapped []byte      // the whole file when memory-mapped
	closer func() error
	// evict, for a mapped file, drops a byte range's pages from the process and the page cache.
	evict  func(off, n int64) error
	closed bool
}

var _ Source = (*File)(nil)

// NewFile parses the GGUF header read from r. The size of the data comes
// from a Size() int64 method (bytes.Reader, io.SectionReader) or Stat()
// (os.File). Tensor data is read on demand by Data.
func NewFile(r io.ReaderAt) (*File, error) {
	var size int64
	switch s := r.(type) {
	case interface{ Size() int64 }:
		size = s.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		st, err := s.Stat()
		if err != nil {
			return nil, fmt.Errorf("gguf: stat: %w", err)
		}
		size = st.Size()
	default:
		return nil, errors.New("gguf: NewFile needs the data size: r must have a Size() int64 or Stat() method")
	}
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative file size %d", size)
	}
	f := &File{r: r, size: size}
	if err := f.parse(newDecoder(r, size)); err != nil {
		return nil, err
	}
	return f, nil
}

// newMappedFile parses a file whose bytes are all in data (a mapping).
func newMappedFile(data []byte, closer func() error) (*File, error) {
	f := &File{mapped: data, size: int64(len(data)), closer: closer}
	if err := f.parse(newMappedDecoder(data)); err != nil {
		return nil, err
	}
	return f, nil
}

// parse reads and validates the whole header.
func (f *File) parse(d *decoder) error {
	magic, err := d.next(4, "magic")
	if err != nil {
		return err
	}
	switch string(magic) {
	case Magic:
	case "FUGG":
		return unsupported(0, "magic", "big-endian GGUF files are not supported; convert it to a little-endian GGUF (llama.cpp's gguf-py can)")
	default:
		return formatErr(0, "magic", "not a GGUF file (starts with %s)", Quote(string(magic)))
	}
	ver, err := d.u32("version")
	if err != nil {
		return err
	}
	switch {
	case ver == 2 || ver == 3:
	case ver == 1:
		return unsupported(4, "version", "GGUF version 1 is not supported (only 2 and 3); convert it to GGUF v3 with a current llama.cpp or download it again")
	case ver != 0 && ver&0xffff == 0 && bits.ReverseBytes32(ver) <= 3:
		return unsupported(4, "version", "big-endian GGUF files are not supported (version reads as %#x); convert it to a little-endian GGUF (llama.cpp's gguf-py can)", ver)
	case ver > 3 && ver <= maxFutureVersion:
		return unsupported(4, "version", "GGUF version %d is newer than this wan22 reads (only 2 and 3): update wan22, or export the file as GGUF v3", ver)
	default:
		return formatErr(4, "version", "version field reads %d (GGUF has versions 1 to 3): not a GGUF version", ver)
	}
	f.version = ver

	nTensors, err := d.u64("tensor_count")
	if err != nil {
		return err
	}
	nKV, err := d.u64("kv_count")
	if err != nil {
		return err
	}
	// Smallest records: a KV is key length + type + 1 byte; a tensor info is
	// name length + n_dims + type + offset.
	const minKV, minTensor = 8 + 4 + 1, 8 + 4 + 4 + 8
	if nKV > uint64(d.remaining())/minKV {
		return formatErr(16, "kv_count", "%d key/value pairs cannot fit in the %d bytes left %s", nKV, d.remaining(), d.where())
	}
	if nTensors > uint64(d.remaining())/minTensor {
		return formatErr(8, "tensor_count", "%d tensor infos cannot fit in the %d bytes left %s", nTensors, d.remaining(), d.where())
	}

	alignAt := int64(0) // offset of the general.alignment value, for errors
	f.kvs = make([]KV, 0, capHint(nKV, 128))
	f.kvIndex = make(map[string]int, capHint(nKV, 128))
	for i := 0; i < int(nKV); i++ {
		d.record("kv", i)
		at := d.off
		key, err := d.str(".key")
		if err != nil {
			return err
		}
		if _, dup := f.kvIndex[key]; dup {
			return d.errAt(at, ".key", "duplicate metadata key %s", Quote(key))
		}
		d.recName = key
		tat := d.off
		t, err := d.u32(".type")
		if err != nil {
			return err
		}
		if !ValueType(t).Valid() {
			return d.errAt(tat, ".type", "unknown metadata value type %d", t)
		}
		if key == KeyAlignment {
			alignAt = d.off
		}
		v, err := d.value(ValueType(t), ".value", 0)
		if err != nil {
			return err
		}
		f.kvIndex[key] = len(f.kvs)
		f.kvs = append(f.kvs, KV{Key: key, Value: v})
	}
	d.record("", 0)

	f.alignment = DefaultAlignment
	if v, ok := f.Value(KeyAlignment); ok {
		if v.Type() != ValueUint32 {
			return formatErr(alignAt, KeyAlignment, "alignment must be a UINT32, not %s", v.Type())
		}
		a := int64(v.bits)
		if a == 0 || a&(a-1) != 0 {
			return formatErr(alignAt, KeyAlignment, "alignment %d is not a power of two", a)
		}
		f.alignment = a
	}

	infos := make([]TensorInfo, 0, capHint(nTensors, 128))
	// Start and end offset of each info record, for errors.
	starts := make([]int64, 0, capHint(nTensors, 128))
	ends := make([]int64, 0, capHint(nTensors, 128))
	for i := 0; i < int(nTensors); i++ {
		d.record("tensor", i)
		start := d.off
		ti, err := f.tensorInfo(d)
		if err != nil {
			return err
		}
		infos = append(infos, ti)
		starts = append(starts, start)
		ends = append(ends, d.off)
	}
	f.dataOffset = alignUp(d.off, f.alignment)

	f.index = make(map[string]int, len(infos))
	for i := range infos {
		ti := &infos[i]
		d.record("tensor", i)
		d.recName = ti.Name
		// The offset field is the last 8 bytes of the record.
		offAt := ends[i] - 8
		if ti.Offset%f.alignment != 0 {
			return d.errAt(offAt, ".offset", "offset %d is not a multiple of the alignment %d", ti.Offset, f.alignment)
		}
		if ti.Offset > f.size-f.dataOffset || ti.Size > f.size-f.dataOffset-ti.Offset {
			return d.errAt(offAt, ".offset", "data [%d, +%d) relative to the data section at %d runs past the end of the %d-byte file",
				ti.Offset, ti.Size, f.dataOffset, f.size)
		}
		ti.Offset += f.dataOffset
		if err := f.applyOrigShape(ti); err != nil {
			return d.errAt(starts[i], "", "%v", err)
		}
		name := strings.TrimPrefix(ti.Name, StripPrefix)
		if _, dup := f.index[name]; dup {
			return d.errAt(starts[i], ".name", "duplicate tensor name %s", Quote(name))
		}
		ti.Name = name
		f.index[name] = i
	}
	if err := checkOverlap(d, infos, ends, f.dataOffset); err != nil {
		return err
	}
	f.tensors = infos
	return nil
}

// checkOverlap refuses two tensors whose data share a byte. Tensors are
// taken in offset order (not necessarily the file's); the alignment padding
// after a tensor is not its data, and a zero-size tensor has no bytes, so it
// overlaps nothing wherever it lies. ends[i] is the end of tensor i's info
// record, whose last 8 bytes are its offset field.
func checkOverlap(d *decoder, infos []TensorInfo, ends []int64, dataOffset int64) error {
	order := make([]int, 0, len(infos))
	for i := range infos {
		if infos[i].Size > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(infos[a].Offset, infos[b].Offset) })
	for k := 1; k < len(order); k++ {
		p, ti := &infos[order[k-1]], &infos[order[k]]
		// Offsets are sorted and sizes positive: only the previous tensor
		// can reach furthest if no earlier pair overlapped.
		if ti.Offset < p.Offset+p.Size {
			i := order[k]
			d.record("tensor", i)
			d.recName = ti.Name
			return d.errAt(ends[i]-8, ".offset", "data [%d, +%d) relative to the data section overlaps tensor %s's data [%d, +%d)",
				ti.Offset-dataOffset, ti.Size, Quote(p.Name), p.Offset-dataOffset, p.Size)
		}
	}
	return nil
}

// tensorInfo reads and checks one tensor-info record (everything except the
// placement in the file, which needs the data offset).
func (f *File) tensorInfo(d *decoder) (TensorInfo, error) {
	nameAt := d.off
	name, err := d.str(".name")
	if err != nil {
		return TensorInfo{}, err
	}
	d.recName = name
	switch name {
	case "":
		return TensorInfo{}, d.errAt(nameAt, ".name", "a tensor has an empty name")
	case StripPrefix:
		return TensorInfo{}, d.errAt(nameAt, ".name", "a tensor has an empty name after the %s prefix", Quote(StripPrefix))
	}
	at := d.off
	nd, err := d.u32(".n_dims")
	if err != nil {
		return TensorInfo{}, err
	}
	if nd > maxDims {
		return TensorInfo{}, d.errAt(at, ".n_dims", "%d dimensions (at most %d supported)", nd, maxDims)
	}
	shape := make([]int64, nd)
	for j := 0; j < int(nd); j++ {
		at := d.off
		ne, err := d.u64(".ne")
		if err != nil {
			return TensorInfo{}, err
		}
		if ne > math.MaxInt64 {
			return TensorInfo{}, d.errAt(at, fmt.Sprintf(".ne[%d]", j), "dimension %d is negative as int64", ne)
		}
		shape[int(nd)-1-j] = int64(ne) // PyTorch order: reversed
	}
	at = d.off
	t32, err := d.u32(".type")
	if err != nil {
		return TensorInfo{}, err
	}
	typ := Type(t32)
	if !typ.Known() || typ >= TypeF8E4M3 {
		return TensorInfo{}, unknownType(d, at, name, t32)
	}
	ne0 := int64(1)
	if nd > 0 {
		ne0 = shape[nd-1]
	}
	if ne0%int64(typ.BlockSize()) != 0 {
		return TensorInfo{}, d.errAt(at, ".type", "ne[0] = %d is not a multiple of the %s block size %d", ne0, typ, typ.BlockSize())
	}
	size, ok := tensorBytes(typ, shape)
	if !ok {
		return TensorInfo{}, d.errAt(at, ".ne", "shape %v of %s overflows int64 bytes", shape, typ)
	}
	offAt := d.off
	off, err := d.u64(".offset")
	if err != nil {
		return TensorInfo{}, err
	}
	if off > math.MaxInt64 {
		return TensorInfo{}, d.errAt(offAt, ".offset", "offset %d overflows int64", off)
	}
	return TensorInfo{Name: name, Type: typ, Shape: shape, Offset: int64(off), Size: size}, nil
}

// tensorBytes is the data size of a tensor of type t and shape (any order),
// or false on overflow. ne[0] must be a multiple of the block size.
func tensorBytes(t Type, shape []int64) (int64, bool) {
	n := uint64(1)
	zero := false
	for _, d := range shape {
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, true
	}
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	blocks := n / uint64(t.BlockSize())
	hi, lo := bits.Mul64(blocks, uint64(t.BlockBytes()))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// applyOrigShape honours ComfyUI's comfy.gguf.orig_shape.<name> key: an
// ARRAY of INT32 giving the logical PyTorch shape of a tensor stored
// reshaped. The element count must match.
func (f *File) applyOrigShape(ti *TensorInfo) error {
	key := origShapePrefix + ti.Name
	v, ok := f.Value(key)
	if !ok {
		return nil
	}
	dims, err := v.Int32s()
	if err != nil || v.ElemType() != ValueInt32 {
		// The type, not the value: a string or a nested array can be long.
		return fmt.Errorf("%s must be an ARRAY of INT32, not %s", Quote(key), v.typeString())
	}
	shape := make([]int64, len(dims))
	for i, d := range dims {
		if d < 0 {
			return fmt.Errorf("%s has a negative dimension %d", Quote(key), d)
		}
		shape[i] = int64(d)
	}
	want := TensorInfo{Shape: shape}
	if _, ok := tensorBytes(TypeF32, shape); !ok || want.Elements() != ti.Elements() {
		return fmt.Errorf("%s = %v does not have the %d elements of the stored shape %v", Quote(key), shape, ti.Elements(), ti.Shape)
	}
	ti.Shape = shape
	return nil
}

func alignUp(x, a int64) int64 { return (x + a - 1) / a * a }

// Version returns the GGUF version (2 or 3).
func (f *File) Version() uint32 { return f.version }

// Alignment returns the data alignment in bytes.
func (f *File) Alignment() int64 { return f.alignment }

// DataOffset returns the absolute offset of the tensor data section.
func (f *File) DataOffset() int64 { return f.dataOffset }

// Size returns the file size in bytes.
func (f *File) Size() int64 { return f.size }

// Metadata returns the key/value pairs in file order.
func (f *File) Metadata() []KV { return append([]KV(nil), f.kvs...) }

// Value looks up a metadata value by key.
func (f *File) Value(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.kvs[i].Value, true
}

// Architecture returns general.architecture, or "" when it is absent or not a string.
func (f *File) Architecture() string {
	v, ok := f.Value(KeyArchitecture)
	if !ok {
		return ""
	}
	s, _ := v.Str()
	return s
}

// Tensors lists every tensor in file order (names with StripPrefix removed,
// absolute offsets). The slice must not be modified.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Lookup finds a tensor by name (without StripPrefix).
func (f *File) Lookup(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// Data returns the bytes of a tensor. For a file from Open this is a view
// into the read-only mapping, valid until Close and never to be modified;
// for NewFile it is a freshly read buffer.
func (f *File) Data(name string) ([]byte, error) {
	ti, ok := f.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor named %s", Quote(name))
	}
	return f.TensorData(ti)
}

// TensorData returns the bytes of a tensor described by one of f's infos.
func (f *File) TensorData(ti TensorInfo) ([]byte, error) {
	if f.closed {
		return nil, fmt.Errorf("gguf: Data(%s) on a closed file", Quote(ti.Name))
	}
	if ti.Offset < f.dataOffset || ti.Size < 0 || ti.Offset > f.size || ti.Size > f.size-ti.Offset {
		return nil, fmt.Errorf("gguf: tensor %s [%d, +%d) is outside the file", Quote(ti.Name), ti.Offset, ti.Size)
	}
	if f.mapped != nil {
		return f.mapped[ti.Offset : ti.Offset+ti.Size : ti.Offset+ti.Size], nil
	}
	buf := make([]byte, ti.Size)
	if n, err := f.r.ReadAt(buf, ti.Offset); n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gguf: reading tensor %s at offset %d: %w", Quote(ti.Name), ti.Offset, err)
	}
	return buf, nil
}

// Evict tells the system that the process is done with a tensor's bytes: for a
// file from Open, its pages leave the process's resident set and the page
// cache (a loaded model should not keep a second copy of itself in RAM). A
// later Data still works: the pages are read from disk again. For other
// files it does nothing.
func (f *File) Evict(name string) error {
	ti, ok := f.Lookup(name)
	if !ok {
		return fmt.Errorf("gguf: no tensor named %s", Quote(name))
	}
	if f.closed || f.evict == nil {
		return nil
	}
	return f.evict(ti.Offset, ti.Size)
}

// Close releases the mapping (for Open) or the underlying file when it is an
// io.Closer opened by this package. Data views are invalid afterwards.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	var err error
	if f.closer != nil {
		err = f.closer()
	}
	f.mapped = nil
	return err
}
