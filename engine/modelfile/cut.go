package modelfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/safetensors"
)

// cutShort tells whether the file at path, of format and size bytes,
// which its reader refused, is whole up to a point and then ends, as an
// interrupted download or copy leaves it, and returns the *TruncatedError
// saying where and how much is missing; nil when the file is damaged
// otherwise. The file is read again as if it went on past its end with
// zero bytes (goesOn): a GGUF header that then runs past the end was cut
// inside; a header that parses within the file but lays out tensor data
// past its end, without holes (a damaged offset makes one), was cut in the
// data. A refusal that is no damage (a GGUF version or a dtype the reader
// does not read) gives nil: the reader refuses the file read so too.
func cutShort(path string, format Format, size int64) *TruncatedError {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := goesOn{f, size}
	cut := &TruncatedError{Path: path, Format: format, Size: size}
	var tensors []gguf.TensorInfo
	var align int64 = 64 // the padding a tensor may have after it: GGUF's alignment, or 64 bytes
	switch format {
	case FormatGGUF:
		gf, err := gguf.NewFile(r)
		var fe *gguf.FormatError
		if err == nil && gf.DataOffset() > size || errors.As(err, &fe) && !fe.Unsupported && fe.Offset >= size {
			cut.Detail = "it ends inside its header (the metadata and the tensor list), before any tensor data"
			return cut
		}
		if err != nil {
			return nil
		}
		tensors, align = gf.Tensors(), gf.Alignment()
	case FormatSafetensors:
		sf, err := safetensors.NewFile(r)
		if err != nil {
			return nil
		}
		tensors = sf.Tensors()
	default:
		return nil
	}
	if len(tensors) == 0 {
		return nil
	}
	start, end, sum := tensors[0].Offset, int64(0), int64(0)
	first := tensors[0] // the first tensor, by offset, that the end cuts short
	for _, ti := range tensors {
		start, end, sum = min(start, ti.Offset), max(end, ti.Offset+ti.Size), sum+ti.Size
		if ti.Offset+ti.Size > size && (first.Offset+first.Size <= size || ti.Offset < first.Offset) {
			first = ti
		}
	}
	if end <= size || end-start > sum+int64(len(tensors))*align {
		return nil
	}
	n, verb := end-size, "are"
	if n == 1 {
		verb = "is"
	}
	amount := plural.Count(n, "byte")
	if n >= 1024 {
		amount += " (" + humanBytes(n) + ")"
	}
	cut.Detail = fmt.Sprintf("its tensor data runs to byte %d, so %s %s missing, from tensor %s on", end, amount, verb, gguf.Quote(first.Name))
	return cut
}

// goesOn reads a file of size bytes as if it went on with zero bytes up to
// claimedSize: the readers then parse a header cut short, or lay out tensor
// data past the end, instead of stopping at the end.
type goesOn struct {
	f    *os.File
	size int64
}

// claimedSize is the size goesOn gives: more than any model file's.
const claimedSize = 1 << 50

func (g goesOn) Size() int64 { return claimedSize }

func (g goesOn) ReadAt(p []byte, off int64) (int, error) {
	if off >= claimedSize {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), claimedSize-off)]
	n := 0
	if off < g.size {
		var err error
		n, err = g.f.ReadAt(p[:min(int64(len(p)), g.size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
	}
	clear(p[n:])
	return len(p), nil
}
