package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// TestOpenReadsNoTensorData: Open of a file with a 1 GiB tensor allocates a
// few KiB, not the file: the data region is mapped (unix, Windows) or read on
// demand (elsewhere), never copied whole. The big tensor's region is a hole
// of a sparse file, so the test neither writes nor reads it.
func TestOpenReadsNoTensorData(t *testing.T) {
	const big = 1 << 30
	small := pattern(16, 42)
	hdr := fmt.Sprintf(`{"__metadata__":{"k":"v"},"big":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]},`+
		`"small":{"dtype":"U8","shape":[16],"data_offsets":[%d,%d]}}`, big, big, big, big+16)
	path := filepath.Join(t.TempDir(), "sparse.safetensors")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	dataStart := int64(8 + len(hdr))
	if _, err := w.Write(rawFile(hdr, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(small, dataStart+big); err != nil { // leaves [dataStart, dataStart+big) a hole
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := Open(path)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("Open allocated %d bytes for a %d-byte header: it read the data region", got, len(hdr))
	}
	ti, ok := f.Lookup("big")
	if !ok || ti.Size != big || ti.Offset != dataStart || ti.Type != gguf.TypeU8 {
		t.Fatalf("big = %+v, %v", ti, ok)
	}
	if m := f.Metadata(); m["k"] != "v" {
		t.Errorf("metadata = %v", m)
	}
	d, err := f.Data("small")
	if err != nil || !bytes.Equal(d, small) {
		t.Fatalf("Data(small) = %v, %v; want %v", d, err, small)
	}
	// One byte from the middle of the hole, through a section reader: no
	// more is read than asked for.
	sec, err := f.Section("big")
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := sec.ReadAt(b[:], big/2); err != nil || b[0] != 0 {
		t.Fatalf("byte %d of the hole = %d, %v", big/2, b[0], err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := f.Data("small"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Data after Close: %v, want ErrClosed", err)
	}
}

// headerOnly is a sized reader that serves the length prefix and header and
// fails every read that reaches the data region, recording the offsets asked.
type headerOnly struct {
	b         []byte // the whole file
	dataStart int64
	mu        sync.Mutex
	reads     [][2]int64 // [off, off+len)
}

var errDataTouched = errors.New("read of the data region")

func (h *headerOnly) Size() int64 { return int64(len(h.b)) }

func (h *headerOnly) ReadAt(p []byte, off int64) (int, error) {
	h.mu.Lock()
	h.reads = append(h.reads, [2]int64{off, off + int64(len(p))})
	h.mu.Unlock()
	if off+int64(len(p)) > h.dataStart {
		return 0, errDataTouched
	}
	return copy(p, h.b[off:]), nil
}

// TestNewFileReadsOnlyTheHeader: parsing a file whose data region cannot be
// read succeeds and reads nothing past the header; only Data fails, with
// an error that names the tensor.
func TestNewFileReadsOnlyTheHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	dataStart := 8 + int64(binary.LittleEndian.Uint64(full))
	r := &headerOnly{b: full, dataStart: dataStart}
	f, err := NewFile(r)
	if err != nil {
		t.Fatalf("NewFile with an unreadable data region: %v", err)
	}
	if len(f.Tensors()) != len(allDtypes()) || f.DataOffset() != dataStart {
		t.Fatalf("%d tensors, data at %d; want %d, %d", len(f.Tensors()), f.DataOffset(), len(allDtypes()), dataStart)
	}
	for _, rd := range r.reads {
		if rd[1] > dataStart {
			t.Errorf("NewFile read [%d, %d), past the header's end %d", rd[0], rd[1], dataStart)
		}
	}
	_, err = f.Data("f32")
	if !errors.Is(err, errDataTouched) {
		t.Fatalf("Data over an unreadable region: %v, want the reader's error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"f32"`) {
		t.Errorf("Data's error %q does not name the tensor", msg)
	}
}

// TestFromFile: the Open path of platforms without mmap reads each tensor
// from the file on demand and closes the file on Close; on a bad header it
// leaves the file to the caller.
func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "all.safetensors")
	if err := Write(path, allDtypes(), nil); err != nil {
		t.Fatal(err)
	}
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := osf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := fromFile(osf, st.Size())
	if err != nil {
		osf.Close()
		t.Fatal(err)
	}
	checkConsistent(t, f, st.Size())
	for _, want := range allDtypes() {
		got, err := f.Data(want.Name)
		if err != nil || !bytes.Equal(got, want.Data) {
			t.Fatalf("%q: Data = %v, %v; want %v", want.Name, got, err, want.Data)
		}
		sec, err := f.Section(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(sec); err != nil || !bytes.Equal(got, want.Data) {
			t.Fatalf("%q: Section reads %v, %v; want %v", want.Name, got, err, want.Data)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := osf.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the file is still open after Close (Stat: %v)", err)
	}

	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	osf, err = os.Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	st, err = osf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var fe *FormatError
	if _, err := fromFile(osf, st.Size()); !errors.As(err, &fe) || fe.Field != "data_offsets" {
		t.Fatalf("truncated data region: %v, want a data_offsets *FormatError", err)
	}
	if _, err := osf.Stat(); err != nil {
		t.Errorf("fromFile closed the file on error: %v", err)
	}
}

// TestOpenRejectsShortFiles: an empty or 7-byte file is a FormatError before
// anything is mapped (Windows cannot map an empty file at all).
func TestOpenRejectsShortFiles(t *testing.T) {
	for _, n := range []int{0, 7} {
		path := filepath.Join(t.TempDir(), "short.safetensors")
		if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		var fe *FormatError
		if _, err := Open(path); !errors.As(err, &fe) || fe.Field != "header length" {
			t.Errorf("%d-byte file: %v, want a header length *FormatError", n, err)
		}
	}
}
