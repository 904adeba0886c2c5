// Package modelfile opens model files whatever their format and says what
// model they hold.
//
// [Open] sniffs the first bytes of a file and opens it with the GGUF or the
// safetensors reader; both give a gguf.Source. [Detect] recognises the
// architecture from tensor names and shapes alone (WAN files carry almost no
// metadata): a WAN DiT expert, a umT5 text encoder, a WAN VAE, or unknown,
// with the dimensions the loaders need. [Inspect] gathers both into a
// [Report] for `wan22 inspect`.
package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// Format is a model file format.
type Format int

// Formats this package opens.
const (
	FormatUnknown Format = iota
	FormatGGUF
	FormatSafetensors
)

func (f Format) String() string {
	switch f {
	case FormatGGUF:
		return "GGUF"
	case FormatSafetensors:
		return "safetensors"
	}
	return "unknown"
}

// supported is the sentence every "wrong format" error ends with.
const supported = "wan22 reads GGUF (.gguf) and safetensors (.safetensors) model files"

// sniffLen is how many leading bytes Sniff looks at.
const sniffLen = 32

// Sniff tells the format from a file's first bytes (at least 9 for
// safetensors, 4 for GGUF). For anything else the error says what the bytes
// look like and which formats are supported.
func Sniff(head []byte) (Format, error) {
	if len(head) >= 4 && string(head[:4]) == gguf.Magic {
		return FormatGGUF, nil
	}
	if len(head) >= 9 && head[8] == '{' {
		if n := binary.LittleEndian.Uint64(head); n >= 2 && n <= safetensors.MaxHeaderSize {
			return FormatSafetensors, nil
		}
	}
	return FormatUnknown, fmt.Errorf("unrecognised file format (%s); %s", describeHead(head), supported)
}

// describeHead guesses what a file that is not a model file is, so the error
// can say what to do.
func describeHead(head []byte) string {
	switch {
	case len(head) == 0:
		return "the file is empty"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive, such as a PyTorch .pt/.pth checkpoint: convert it to safetensors first"
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return "a Python pickle, such as an old PyTorch checkpoint: convert it to safetensors first"
	case bytes.HasPrefix(head, []byte("version https://git-lfs")):
		return "a Git LFS pointer, not the model itself: fetch the real file with `git lfs pull`"
	case bytes.HasPrefix(head, []byte("lmgg")), bytes.HasPrefix(head, []byte("tjgg")), bytes.HasPrefix(head, []byte("fmgg")):
		return "an old GGML/GGJT file: convert it to GGUF"
	case len(head) < 9 && bytes.HasPrefix(head, []byte(gguf.Magic[:min(len(head), 4)])):
		return fmt.Sprintf("only %d bytes: the file is truncated", len(head))
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"), []byte("<")):
		return "text that looks like HTML or XML: the download probably failed"
	}
	return fmt.Sprintf("it starts with % x", head[:min(len(head), 8)])
}

// Open opens a GGUF or safetensors file, telling them apart by content, not
// by extension. The caller closes the returned Source. A damaged file gives
// an error that names the file and the problem.
func Open(path string) (gguf.Source, Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, FormatUnknown, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, FormatUnknown, err
	}
	if st.IsDir() {
		f.Close()
		return nil, FormatUnknown, fmt.Errorf("%s is a directory; pass a model file", path)
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, FormatUnknown, fmt.Errorf("reading %s: %w", path, err)
	}
	format, err := Sniff(head[:n])
	if err != nil {
		return nil, FormatUnknown, fmt.Errorf("%s: %w", path, err)
	}
	var src gguf.Source
	switch format {
	case FormatGGUF:
		var gf *gguf.File
		gf, err = gguf.Open(path)
		if err == nil {
			src = gf
		}
	case FormatSafetensors:
		var sf *safetensors.File
		sf, err = safetensors.Open(path)
		if err == nil {
			src = sf
		}
	}
	if err != nil {
		return nil, format, withHint(err)
	}
	return src, format, nil
}

// withHint adds what to do to a reader's format error.
func withHint(err error) error {
	var ge *gguf.FormatError
	var se *safetensors.FormatError
	if (errors.As(err, &se) && se.Field != "dtype") || errors.As(err, &ge) {
		return fmt.Errorf("%w (the file is damaged or truncated: download or export it again)", err)
	}
	return err
}
