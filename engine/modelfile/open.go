// Package modelfile opens model files whatever their format and says what
// model they hold.
//
// [Open] sniffs the first bytes of a file and opens it with the GGUF or the
// safetensors reader; both give a gguf.Source. [Detect] recognises the
// architecture from tensor names and shapes alone (WAN files carry almost no
// metadata): a WAN DiT expert, a umT5 text encoder, a WAN VAE, or unknown,
// with the dimensions the loaders need. [Inspect] gathers both into a
// [Report] for `wan22 inspect`.
//
// Errors and reports name a file by its path as it is, or Go-quoted when it
// holds a control character, bytes that are not UTF-8 or an invisible
// character that deceives (safetext.Path): a terminal escape in a file's
// name does not reach the terminal. The errors' Path fields hold it as given.
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
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/internal/safetext"
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
// look like and which formats are supported; for a SentencePiece tokenizer
// model, which is no model file in an unknown format but another kind of
// file altogether, it opens by naming it.
func Sniff(head []byte) (Format, error) {
	if len(head) >= 4 && string(head[:4]) == gguf.Magic {
		return FormatGGUF, nil
	}
	if len(head) >= 9 && head[8] == '{' {
		if n := binary.LittleEndian.Uint64(head); n >= 2 && n <= safetensors.MaxHeaderSize {
			return FormatSafetensors, nil
		}
	}
	if sentencePieceHead(head) {
		return FormatUnknown, fmt.Errorf("%s; %s", DescribeHead(head), supported)
	}
	return FormatUnknown, fmt.Errorf("unrecognised file format (%s); %s", DescribeHead(head), supported)
}

// DescribeHead says, from its first bytes (head, up to 32 are looked at; a
// shorter head is taken to be the whole file), what a file that is neither
// GGUF nor safetensors probably is and what to do about it: "the file is
// empty", "a zip archive, such as a PyTorch .pt/.pth checkpoint: convert it
// to safetensors first", "text that looks like HTML or XML: …", "only 3
// bytes, a truncated GGUF file: …", or "it starts with 01 02 …". Sniff's
// error for such a file holds this text.
func DescribeHead(head []byte) string {
	if len(head) == 0 {
		return "the file is empty"
	}
	if what, ok := knownHead(head); ok {
		return what
	}
	if len(head) < sniffLen {
		if f, what, ok := truncation(head, int64(len(head))); ok {
			kind := "a truncated file"
			if f != FormatUnknown {
				kind = "a truncated " + f.String() + " file"
			}
			return fmt.Sprintf("only %s, %s: %s", plural.Count(len(head), "byte"), kind, what)
		}
	}
	if len(head) >= sniffLen && !slices.ContainsFunc(head, func(b byte) bool { return b != 0 }) {
		return fmt.Sprintf("its first %d bytes are all zero, as a download that reserved the file's space but did not finish leaves it: download it again", len(head))
	}
	if text, ok := textHead(head, len(head) < sniffLen); ok {
		return "text: it starts with " + text
	}
	return fmt.Sprintf("it starts with % x", head[:min(len(head), 8)])
}

// textHead tells whether head, a file's first bytes (whole: the whole
// file), is text: UTF-8 of printable characters, tabs and line ends (a
// character cut at the end of a head that is not whole is allowed). It
// returns its first characters quoted (strconv.Quote), with "…" after them
// when the file goes on.
func textHead(head []byte, whole bool) (string, bool) {
	const shown = 24 // characters
	text := head
	if !whole {
		for i := 1; i < utf8.UTFMax && i <= len(text); i++ {
			if utf8.RuneStart(text[len(text)-i]) {
				if !utf8.FullRune(text[len(text)-i:]) {
					text = text[:len(text)-i]
				}
				break
			}
		}
	}
	if len(text) == 0 || !utf8.Valid(text) || bytes.ContainsFunc(text, func(r rune) bool {
		return r != '\t' && r != '\n' && r != '\r' && !unicode.IsPrint(r)
	}) {
		return "", false
	}
	r := []rune(string(text))
	if len(r) <= shown && whole {
		return strconv.Quote(string(r)), true
	}
	return strconv.Quote(string(r[:min(len(r), shown)])) + "…", true
}

// knownHead recognises the leading bytes of files that are often given
// by mistake for a model file, and says what to do about them.
func knownHead(head []byte) (string, bool) {
	switch {
	case sentencePieceHead(head): // before the HTML check: its lengths can be whitespace bytes
		return "a SentencePiece tokenizer model, such as umT5's spiece.model, which is not needed: umT5's tokenizer is taken from the text encoder file itself " +
			"(the tokenizer.ggml.* metadata of a GGUF, the spiece_model tensor of a ComfyUI safetensors)", true
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive, such as a PyTorch .pt/.pth checkpoint: convert it to safetensors first", true
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return "a Python pickle, such as an old PyTorch checkpoint: convert it to safetensors first", true
	case bytes.HasPrefix(head, []byte("version https://git-lfs")):
		return "a Git LFS pointer, not the model itself: fetch the real file with `git lfs pull`", true
	case bytes.HasPrefix(head, []byte("lmgg")), bytes.HasPrefix(head, []byte("tjgg")), bytes.HasPrefix(head, []byte("fmgg")):
		return "an old GGML/GGJT file: convert it to GGUF", true
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"), []byte("<")):
		return "text that looks like HTML or XML: the download probably failed", true
	}
	if what := mediaHead(head); what != "" {
		return what, true
	}
	return "", false
}

// mediaHead names the image or video format whose signature head starts
// with (an image or a video given for a model file: the input image, a
// preview downloaded with a LoRA, a generated video), or "".
func mediaHead(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "a PNG image, not a model file"
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "a JPEG image, not a model file"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "a GIF image, not a model file"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "a WebP image, not a model file"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "AVI ":
		return "an AVI video, not a model file"
	case bytes.HasPrefix(head, []byte("\x1a\x45\xdf\xa3")):
		return "a WebM or Matroska video, not a model file"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "avif", "avis":
			return "an AVIF image, not a model file"
		case "heic", "heix", "mif1", "msf1":
			return "a HEIC image, not a model file"
		}
		return "an MP4 or MOV video, not a model file"
	}
	return ""
}

// sentencePieceHead tells whether head starts a SentencePiece model
// protobuf (ModelProto): field 1, its first piece, a length-delimited
// message whose own field 1, the piece's text, is valid UTF-8 that ends
// inside head and inside the piece's message, followed by the piece's
// score (field 2, a float), its type (field 3, a varint) or the end of the
// message. A text file that starts with two newlines fails one of these.
func sentencePieceHead(head []byte) bool {
	const pieces, piece, score, typ = 1<<3 | 2, 1<<3 | 2, 2<<3 | 5, 3<<3 | 0 // tag bytes: field<<3 | wire type
	if len(head) < 2 || head[0] != pieces {
		return false
	}
	n, k := binary.Uvarint(head[1:])
	if k <= 0 {
		return false
	}
	start := 1 + k // of the first piece's message
	if start >= len(head) || head[start] != piece {
		return false
	}
	m, j := binary.Uvarint(head[start+1:])
	if j <= 0 || m == 0 || m > uint64(len(head)) || uint64(1+j)+m > n {
		return false
	}
	text := start + 1 + j
	end := text + int(m)
	if end > len(head) || !utf8.Valid(head[text:end]) {
		return false
	}
	return uint64(end-start) == n || end < len(head) && (head[end] == score || head[end] == typ)
}

// ggufFixedHeader is the size of a GGUF file's fixed header: magic,
// version, tensor count and metadata count.
const ggufFixedHeader = 4 + 4 + 8 + 8

// minSafetensors is the size of the smallest safetensors file: the 8-byte
// header length and the header "{}".
const minSafetensors = 8 + 2

// truncation tells whether a file of size bytes that starts with head (its
// first min(size, sniffLen) bytes) ends before the end of the part that
// says what it is: a GGUF file (of version 2 or 3, when the version is
// there) shorter than its fixed header; a safetensors file that ends after
// its 8-byte header length (nothing follows, or '{' and less than the JSON
// header it announces); or fewer than 8 bytes that could start a
// safetensors file's header length (shortSafetensors; FormatUnknown then:
// too short to tell). what says what
// is missing. An empty file is none of these.
func truncation(head []byte, size int64) (f Format, what string, ok bool) {
	switch {
	case size <= 0 || len(head) == 0:
	case size < ggufFixedHeader && bytes.HasPrefix([]byte(gguf.Magic), head[:min(len(head), len(gguf.Magic))]):
		if len(head) >= 8 {
			if v := binary.LittleEndian.Uint32(head[4:]); v != 2 && v != 3 {
				break // a version the reader does not support: it says so
			}
		}
		return FormatGGUF, fmt.Sprintf("a GGUF file starts with a %d-byte fixed header (magic, version, tensor and metadata counts)", ggufFixedHeader), true
	case size >= 8 && len(head) >= 8:
		n := binary.LittleEndian.Uint64(head)
		if n >= 2 && n <= safetensors.MaxHeaderSize && n > uint64(size-8) && (size == 8 || len(head) > 8 && head[8] == '{') {
			return FormatSafetensors, fmt.Sprintf("its first 8 bytes announce a %d-byte JSON header, but %s %s", n, plural.Count(int(size-8), "byte"), follow(size-8)), true
		}
	case size < 8 && len(head) < 8 && shortSafetensors(head):
		if _, known := knownHead(head); !known {
			return FormatUnknown, fmt.Sprintf("a model file has at least %d bytes (safetensors) or %d (GGUF)", minSafetensors, ggufFixedHeader), true
		}
	}
	return FormatUnknown, "", false
}

// shortSafetensors tells whether head, fewer than 8 bytes, can be the
// start of a safetensors file's 8-byte little-endian header length: the
// smallest length it can start, head padded with zeros, is at most
// safetensors.MaxHeaderSize. Text such as "abc\n" or "test" cannot.
func shortSafetensors(head []byte) bool {
	var n [8]byte
	copy(n[:], head)
	return binary.LittleEndian.Uint64(n[:]) <= safetensors.MaxHeaderSize
}

// follow is "follows" after one byte, else "follow".
func follow(n int64) string {
	if n == 1 {
		return "follows"
	}
	return "follow"
}

// Open opens a GGUF or safetensors file, telling them apart by content, not
// by extension. The caller closes the returned Source. A damaged file gives
// an error that names the file and the problem; an empty one, or one cut
// short anywhere (in the bytes that tell its format, in its header, in its
// tensor data), a *TruncatedError. Anything but a regular file
// (a directory, a named pipe, a device, a socket) is refused before it is
// opened, since reading a pipe or a terminal would wait forever.
func Open(path string) (gguf.Source, Format, error) {
	if err := CheckRegular(path); err != nil {
		return nil, FormatUnknown, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, FormatUnknown, explainOS(path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, FormatUnknown, explainOS(path, err)
	}
	if !st.Mode().IsRegular() { // replaced between the check and the open
		f.Close()
		return nil, FormatUnknown, notRegular(path, st.Mode())
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, FormatUnknown, explainOS(path, err)
	}
	if n == 0 {
		return nil, FormatUnknown, &TruncatedError{Path: path}
	}
	if tf, what, ok := truncation(head[:n], st.Size()); ok {
		return nil, tf, &TruncatedError{Path: path, Format: tf, Size: st.Size(), Detail: what}
	}
	format, err := Sniff(head[:n])
	if err != nil {
		if !safetensorsLength(head[:n], st.Size()) {
			return nil, FormatUnknown, fmt.Errorf("%s: %w", safetext.Path(path), err)
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
		if cut := cutShort(path, format, st.Size()); cut != nil {
			return nil, format, cut
		}
		return nil, format, withHint(path, err)
	}
	return src, format, nil
}

// CheckRegular returns nil when path names a regular file (after following
// symbolic links), and otherwise an error saying what it is instead: an
// empty name, a symbolic link to nothing, a loop of links and the other
// cases explainOS knows are named as such (the error still matches
// fs.ErrNotExist, or wraps the stat error).
func CheckRegular(path string) error {
	if path == "" {
		return &explainedError{"the file name is empty (\"\"): give the path of a model file", fs.ErrNotExist}
	}
	st, err := os.Stat(path)
	if err != nil {
		return explainOS(path, err)
	}
	if !st.Mode().IsRegular() {
		return notRegular(path, st.Mode())
	}
	return nil
}

// explainOS names what is wrong when path cannot be stat'ed (through its
// symbolic links), opened or read, err being the os package's error, and
// what to do: a dangling link (the target it names is missing), a loop of
// links, no permission, a name too long, a file where the path needs a
// folder, a read error of the disk. Any other error of the os package about
// path (a *fs.PathError) is said "PATH: CAUSE" ("PATH: no such file or
// directory"), without the system call and the path again that the os
// package's words have ("stat PATH: no such file or directory"). Other
// errors are returned as they are. The error says the path once and
// matches err (errors.Is, errors.As).
func explainOS(path string, err error) error {
	var why string
	switch {
	case errors.Is(err, syscall.ELOOP):
		return &explainedError{safetext.Path(path) + " is a loop of symbolic links; point the link at the model file", err}
	case errors.Is(err, fs.ErrPermission):
		why = "permission denied: this user may not read the file, or may not enter a folder on its path; " +
			"give it read access (on Unix: chmod a+r on the file, a+x on its folders) or run wan22 as a user who may read it"
	case errors.Is(err, syscall.ENAMETOOLONG):
		why = "the name is too long for this system (most allow 255 bytes for a file or folder name and 4096 for a whole path); rename the file or move it up"
	case errors.Is(err, syscall.ENOTDIR):
		why = "a part of the path before the file name is a file, not a folder"
		if file := fileOnPath(path); file != "" {
			why += " (" + safetext.Path(file) + ")"
		}
		why += "; check the path"
	case errors.Is(err, syscall.EIO):
		why = "input/output error: the disk or network drive could not read it (it may be failing or disconnected); copy or download the file again"
	case errors.Is(err, fs.ErrNotExist):
		if lst, lerr := os.Lstat(path); lerr == nil && lst.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(path)
			return &explainedError{fmt.Sprintf("%s is a symbolic link to %s, which does not lead to an existing file; point the link at the model file", safetext.Path(path), strconv.Quote(target)), err}
		}
	}
	if pe := (*fs.PathError)(nil); why == "" && errors.As(err, &pe) && pe.Path == path {
		why = pe.Err.Error()
	}
	if why == "" {
		return err
	}
	return &explainedError{safetext.Path(path) + ": " + why, err}
}

// fileOnPath returns the part of path that makes opening it fail with
// ENOTDIR: the nearest leading part that exists, when it is not a folder;
// else "".
func fileOnPath(path string) string {
	for p := filepath.Dir(path); p != filepath.Dir(p); p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil {
			if st.IsDir() {
				return ""
			}
			return p
		}
	}
	return ""
}

// explainedError is an error in this package's words (explainOS's, or a
// reader's message without its prefix), matching the error it explains.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

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
	// Want is what the slot takes, for the advice ("a LoRA file
	// (.safetensors)"); "" says a model file (.gguf or .safetensors).
	Want string
}

func (e *NotRegularError) Error() string {
	want := e.Want
	if want == "" {
		want = "a model file (.gguf or .safetensors)"
	}
	return fmt.Sprintf("%s is %s, not a regular file; pass %s", safetext.Path(e.Path), e.What, want)
}

// TruncatedError reports a file that ends too soon: an empty file, a GGUF
// file shorter than its fixed header or cut inside the rest of its header,
// a safetensors file cut inside its JSON header, a few bytes too short to
// tell, or a file whose header is whole but whose tensor data runs past its
// end (Detail says how much is missing).
type TruncatedError struct {
	Path   string
	Format Format // FormatUnknown when the file is empty or too short to tell
	Size   int64  // the file's size in bytes
	Detail string // what is missing; "" for an empty file
}

func (e *TruncatedError) Error() string {
	if e.Size == 0 {
		return fmt.Sprintf("%s: the file is empty (0 bytes): download or export it again", safetext.Path(e.Path))
	}
	what := "truncated file"
	if e.Format != FormatUnknown {
		what = "truncated " + e.Format.String() + " file"
	}
	return fmt.Sprintf("%s: %s (%s): %s; download or export it again", safetext.Path(e.Path), what, plural.Count(int(e.Size), "byte"), e.Detail)
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

// withHint says a reader's format error in this package's words: the
// path once, without the reader's package prefix ("gguf: invalid file at
// offset …", "safetensors: …"). Damage is a *DamagedHeaderError, which says
// what to do; what the readers do not read (a GGUF version or byte order, a
// safetensors dtype) is the reader's message, which says what to do
// instead. An error of the os package (the file went away or changed after
// Open's checks) is said as explainOS says it; other errors are returned
// as they are.
func withHint(path string, err error) error {
	var ge *gguf.FormatError
	var se *safetensors.FormatError
	switch {
	case errors.As(err, &ge) && ge.Unsupported:
		return &explainedError{safetext.Path(path) + ": " + ge.Msg, err}
	case errors.As(err, &ge):
		detail := fmt.Sprintf("%s: %s (at byte %d)", ge.Field, ge.Msg, ge.Offset)
		return &DamagedHeaderError{Path: path, Format: FormatGGUF, Detail: detail, Err: err}
	case errors.As(err, &se):
		msg := se.Msg
		if se.Field != "" && se.Field != "header" && se.Field != "header length" {
			msg = se.Field + ": " + msg
		}
		if se.Tensor != "" {
			msg = "tensor " + gguf.Quote(se.Tensor) + ": " + msg
		}
		if se.Offset >= 0 {
			msg += fmt.Sprintf(" (at byte %d)", se.Offset)
		}
		if se.Field == "dtype" { // not damaged: the message says what to do
			return &explainedError{safetext.Path(path) + ": " + msg, err}
		}
		return &DamagedHeaderError{Path: path, Format: FormatSafetensors, Detail: msg, Err: err}
	}
	return explainOS(path, err)
}

// DamagedHeaderError reports a file whose leading bytes say which format it
// is but whose header does not parse, or lays out tensors that cannot be.
type DamagedHeaderError struct {
	Path   string
	Format Format
	Detail string // the parser's message, with the byte offset
	Err    error  // the reader's error, if any
}

func (e *DamagedHeaderError) Error() string {
	return fmt.Sprintf("%s: damaged %s header: %s%s", safetext.Path(e.Path), e.Format, e.Detail, hint)
}

func (e *DamagedHeaderError) Unwrap() error { return e.Err }

// damagedSafetensors describes a file whose first 8 bytes are a plausible
// safetensors header length n but whose header does not start with '{',
// with the JSON parser's error where there is one.
func damagedSafetensors(path string, n uint64) error {
	e := &DamagedHeaderError{Path: path, Format: FormatSafetensors}
	f, err := os.Open(path)
	if err != nil {
		return explainOS(path, err)
	}
	defer f.Close()
	hdr := make([]byte, n) // n ≤ the file size and safetensors.MaxHeaderSize
	if _, err := f.ReadAt(hdr, 8); err != nil {
		return explainOS(path, err)
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
