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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	return FormatUnknown, fmt.Errorf("unrecognised file format (%s); %s", DescribeHead(head), supported)
}

// DescribeHead says, from its first bytes (head, up to 32 are looked at),
// what a file that is neither GGUF nor safetensors probably is and what to
// do about it: "the file is empty", "a zip archive, such as a PyTorch
// .pt/.pth checkpoint: convert it to safetensors first", "text that looks
// like HTML or XML: …", or "it starts with 01 02 …". Sniff's error for such
// a file holds this text.
func DescribeHead(head []byte) string {
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
// an error that names the file and the problem. Anything but a regular file
// (a directory, a named pipe, a device, a socket) is refused before it is
// opened, since reading a pipe or a terminal would wait forever.
func Open(path string) (gguf.Source, Format, error) {
	if err := CheckRegular(path); err != nil {
		return nil, FormatUnknown, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, FormatUnknown, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, FormatUnknown, err
	}
	if !st.Mode().IsRegular() { // replaced between the check and the open
		f.Close()
		return nil, FormatUnknown, notRegular(path, st.Mode())
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, FormatUnknown, fmt.Errorf("reading %s: %w", path, err)
	}
	format, err := Sniff(head[:n])
	if err != nil {
		if !safetensorsLength(head[:n], st.Size()) {
			return nil, FormatUnknown, fmt.Errorf("%s: %w", path, err)
		}
		// The length prefix is plausible but the header does not start
		// with '{': a damaged safetensors file.
		return nil, FormatSafetensors, damagedSafetensors(path, binary.LittleEndian.Uint64(head))
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
		return nil, format, withHint(path, err)
	}
	return src, format, nil
}

// CheckRegular returns nil when path names a regular file (after following
// symbolic links), and otherwise an error saying what it is instead.
func CheckRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return notRegular(path, st.Mode())
	}
	return nil
}

// notRegular is the error for a path that is not a regular file.
func notRegular(path string, m fs.FileMode) error {
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return &NotRegularError{Path: path, What: what}
}

// NotRegularError reports a path that is a directory, pipe, device or
// socket where a model file was expected.
type NotRegularError struct {
	Path string
	What string // "a directory", "a named pipe (FIFO)", …
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file; pass a model file (.gguf or .safetensors)", e.Path, e.What)
}

// safetensorsLength reports whether head starts with a little-endian length
// that a safetensors header could have in a file of size bytes.
func safetensorsLength(head []byte, size int64) bool {
	if len(head) < 8 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= safetensors.MaxHeaderSize && size >= 8 && n <= uint64(size-8)
}

// hint is what to do about a damaged file.
const hint = " (the file is damaged or truncated: download or export it again)"

// withHint adds what to do to a reader's format error. A damaged safetensors
// header says so first, since the parser's words alone read like a bug.
func withHint(path string, err error) error {
	var ge *gguf.FormatError
	var se *safetensors.FormatError
	switch {
	case errors.As(err, &se) && (se.Field == "header" || se.Field == "header length"):
		msg := se.Msg
		if se.Offset >= 0 {
			msg += fmt.Sprintf(" (at byte %d)", se.Offset)
		}
		return &DamagedHeaderError{Path: path, Format: FormatSafetensors, Detail: msg, Err: err}
	case errors.As(err, &se) && se.Field != "dtype", errors.As(err, &ge):
		return fmt.Errorf("%w"+hint, err)
	}
	return err
}

// DamagedHeaderError reports a file whose leading bytes say which format it
// is but whose header does not parse.
type DamagedHeaderError struct {
	Path   string
	Format Format
	Detail string // the parser's message, with the byte offset
	Err    error  // the reader's error, if any
}

func (e *DamagedHeaderError) Error() string {
	return fmt.Sprintf("%s: damaged %s header: %s%s", e.Path, e.Format, e.Detail, hint)
}

func (e *DamagedHeaderError) Unwrap() error { return e.Err }

// damagedSafetensors describes a file whose first 8 bytes are a plausible
// safetensors header length n but whose header does not start with '{',
// with the JSON parser's error where there is one.
func damagedSafetensors(path string, n uint64) error {
	e := &DamagedHeaderError{Path: path, Format: FormatSafetensors}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, n) // n ≤ the file size and safetensors.MaxHeaderSize
	if _, err := f.ReadAt(hdr, 8); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var obj map[string]json.RawMessage
	err = json.Unmarshal(hdr, &obj)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		e.Detail = fmt.Sprintf("invalid JSON: %v (at byte %d)", err, 8+syn.Offset-1)
	case errors.As(err, &typ):
		e.Detail = fmt.Sprintf("the %d-byte JSON header is %s %s, not an object (at byte 8)", n, article(typ.Value), typ.Value)
	case err != nil:
		e.Detail = fmt.Sprintf("invalid JSON: %v", err)
	default:
		e.Detail = fmt.Sprintf("the %d-byte JSON header has bytes before its opening '{' (at byte 8)", n)
	}
	return e
}
