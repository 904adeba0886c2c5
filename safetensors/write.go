package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/atomicfile"
)

// Tensor is one tensor to write.
type Tensor struct {
	Name  string
	Type  gguf.Type // F32, F16, BF16, F64, F8E4M3, F8E5M2, I64, I32, I16, I8 or U8
	Shape []int64   // PyTorch order; empty for a scalar
	Data  []byte    // row-major, little-endian; len must be elements × element size
}

// FromFloat32 makes an F32 tensor from values in row-major order.
func FromFloat32(name string, shape []int64, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, Type: gguf.TypeF32, Shape: shape, Data: b}
}

// Write writes a safetensors file at path: to a temporary file in the same
// folder, renamed over path once complete, so a reader never sees half a
// file (internal/atomicfile; mode 0666 less the umask). Tensors are stored in the order given; metadata may be nil.
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	hdr, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer tmp.Abort()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = writeBody(bw, hdr, tensors); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = tmp.Commit(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	return nil
}

// Encode writes a safetensors file to w (see Write).
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	hdr, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	return writeBody(w, hdr, tensors)
}

func writeBody(w io.Writer, hdr []byte, tensors []Tensor) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write: %w", err)
		}
	}
	return nil
}

// encodeHeader checks the tensors and builds the JSON header, padded with
// spaces so the data region starts at a multiple of 8 bytes.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			sb.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		sb.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.Write(jsonString(k))
			sb.WriteByte(':')
			sb.Write(jsonString(metadata[k]))
		}
		sb.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == metadataKey {
			return nil, fmt.Errorf("safetensors: invalid tensor name %s", gguf.Quote(t.Name))
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: tensor %s given twice", gguf.Quote(t.Name))
		}
		seen[t.Name] = true
		dtype, ok := dtypeNames[t.Type]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %s: type %v has no safetensors dtype (use F32, F16, BF16, F64, F8_E4M3, F8_E5M2, I64, I32, I16, I8 or U8)", gguf.Quote(t.Name), t.Type)
		}
		elems := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %s: negative dimension in shape %v", gguf.Quote(t.Name), t.Shape)
			}
			hi, lo := bits.Mul64(uint64(elems), uint64(d))
			if hi != 0 || lo > math.MaxInt64 {
				return nil, fmt.Errorf("safetensors: tensor %s: shape %v has more elements than fit in 64 bits", gguf.Quote(t.Name), t.Shape)
			}
			elems = int64(lo)
		}
		want, err := t.Type.RowBytes(elems)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", gguf.Quote(t.Name), err)
		}
		if int64(len(t.Data)) != want {
			return nil, fmt.Errorf("safetensors: tensor %s: %d bytes of data, but %s %v needs %d", gguf.Quote(t.Name), len(t.Data), dtype, t.Shape, want)
		}
		sep()
		sb.Write(jsonString(t.Name))
		sb.WriteString(`:{"dtype":"` + dtype + `","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(d, 10))
		}
		sb.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + "," + strconv.FormatInt(off+want, 10) + "]}")
		off += want
	}
	sb.WriteByte('}')
	for (8+sb.Len())%8 != 0 {
		sb.WriteByte(' ')
	}
	if sb.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header of %d bytes exceeds the %d-byte limit", sb.Len(), MaxHeaderSize)
	}
	return []byte(sb.String()), nil
}

// jsonString encodes s as a JSON string. Marshalling a string cannot fail.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
