package modelfile

// The thirteenth QA pass over wan22 inspect: what Open says of a path it
// cannot stat, open or read.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestOpenOSErrors: a name too long for the system, a path through a file,
// a file this user may not read and a read error of the disk each say what
// is wrong and what to do, once, with the path, instead of Go's "stat X:
// file name too long", "open X: permission denied" or "reading X: read X:
// input/output error"; the error still matches the system's.
func TestOpenOSErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "high.gguf")
	if err := os.WriteFile(file, []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("a", 300)+".gguf")
	through := filepath.Join(file, "low.gguf")
	for _, c := range []struct {
		path, want string
		is         error
	}{
		{long, long + ": the name is too long for this system", syscall.ENAMETOOLONG},
		{through, through + ": a part of the path before the file name is a file, not a folder (" + file + "); check the path", syscall.ENOTDIR},
	} {
		_, _, err := Open(c.path)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, c.is) || strings.Contains(err.Error(), "stat ") {
			t.Errorf("Open(%.80q…): %v; want it to start %q and match %v", c.path, err, c.want, c.is)
		}
	}

	// Permissions bind only for a user other than root.
	locked := filepath.Join(dir, "locked.gguf")
	if err := os.WriteFile(locked, []byte("GGUF"), 0o000); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(locked); err == nil {
		f.Close()
		t.Log("permissions do not bind for this user: the unreadable file is checked through explainOS only")
	} else {
		_, _, err := Open(locked)
		want := locked + ": permission denied: this user may not read the file"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(%s): %v; want it to start %q", locked, err, want)
		}
	}

	for _, c := range []struct {
		op   string
		err  error
		want string
	}{
		{"open", syscall.EACCES, locked + ": permission denied: this user may not read the file, or may not enter a folder on its path;"},
		{"stat", syscall.EACCES, locked + ": permission denied"},
		{"read", syscall.EIO, locked + ": input/output error: the disk or network drive could not read it"},
	} {
		perr := &fs.PathError{Op: c.op, Path: locked, Err: c.err}
		got := explainOS(locked, perr)
		if !strings.HasPrefix(got.Error(), c.want) || !errors.Is(got, c.err) || strings.Contains(got.Error(), c.op+" "+locked) {
			t.Errorf("explainOS(%v) = %v; want it to start %q and match %v", perr, got, c.want, c.err)
		}
	}
}

// TestOpenCutInData: a file cut short after its header, as an interrupted
// download leaves it, is a *TruncatedError that says where its tensor data
// should end and how much is missing, and a GGUF file cut inside its
// header says so; they were the readers' "gguf: invalid file at offset 303
// (tensor[0] (…).offset): data [0, +1024) relative to the data section at
// 5952 runs past the end…" and "safetensors: tensor …: data_offsets: end
// 5184 is beyond the 0-byte data region…". A file whose tensor data is all
// there but whose header is damaged is not called cut.
func TestOpenCutInData(t *testing.T) {
	g, gf := zeroGGUF(t, 1024, "a", "b", "c")
	gEnd := gf.DataOffset() + 3*4096
	var st bytes.Buffer
	if err := safetensors.Encode(&st, []safetensors.Tensor{
		safetensors.FromFloat32("a", []int64{1024}, make([]float32, 1024)),
		safetensors.FromFloat32("b", []int64{1024}, make([]float32, 1024)),
	}, nil); err != nil {
		t.Fatal(err)
	}
	sEnd := int64(st.Len())
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"data.gguf", g[:gf.DataOffset()+100], fmt.Sprintf("truncated GGUF file (%d bytes): its tensor data runs to byte %d, so %d bytes (11.90 KiB) are missing, from tensor \"a\" on; download or export it again", gf.DataOffset()+100, gEnd, gEnd-gf.DataOffset()-100)},
		{"last.gguf", g[:gEnd-1], fmt.Sprintf("truncated GGUF file (%d bytes): its tensor data runs to byte %d, so 1 byte is missing, from tensor \"c\" on;", gEnd-1, gEnd)},
		{"header.gguf", g[:40], "truncated GGUF file (40 bytes): it ends inside its header (the metadata and the tensor list), before any tensor data; download or export it again"},
		{"data.safetensors", st.Bytes()[:sEnd-5000], fmt.Sprintf("truncated safetensors file (%d bytes): its tensor data runs to byte %d, so 5000 bytes (4.88 KiB) are missing, from tensor \"a\" on;", sEnd-5000, sEnd)},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(path)
		var te *TruncatedError
		if err == nil || !errors.As(err, &te) || !strings.HasPrefix(err.Error(), path+": "+c.want) {
			t.Errorf("%s: %v; want a *TruncatedError %q", c.name, err, c.want)
		}
	}

	// A tensor's offset damaged to lie far past the end: no layout without
	// holes ends there, so the file is damaged, not cut.
	bad := bytes.Clone(g[:gEnd])
	off := bytes.LastIndex(bad[:gf.DataOffset()], []byte{'c'}) + 1 + 4 + 8 + 4 // "c", n_dims, ne[0], type
	bad[off+5] = 1                                                             // offset += 1 TiB
	path := filepath.Join(dir, "offset.gguf")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(path)
	var te *TruncatedError
	if err == nil || errors.As(err, &te) || !strings.Contains(err.Error(), "download or export it again") {
		t.Fatalf("offset.gguf: %v; want a damaged file, not a truncated one", err)
	}
	if !strings.Contains(err.Error(), `("c").offset`) {
		t.Errorf("offset.gguf: %v; want the error of tensor c's offset", err)
	}
}

// TestOpenReaderErrorsWithoutPrefix: what the GGUF and safetensors readers
// find wrong in a header is said without their package prefixes ("gguf:
// invalid file at offset 299 (…): …", "safetensors: tensor …"): damage as
// a damaged header with the field, the reader's words and the byte, what
// the readers do not read (GGUF version 1, a dtype) in the reader's words,
// which say what to do, and not called damage.
func TestOpenReaderErrorsWithoutPrefix(t *testing.T) {
	dir := t.TempDir()
	g, gf := zeroGGUF(t, 4, "w")
	typ := bytes.LastIndexByte(g[:gf.DataOffset()], 'w') + 1 + 4 + 8 // "w", n_dims, ne[0]
	badType := bytes.Clone(g)
	badType[typ] = 99
	v1 := bytes.Clone(g)
	v1[4] = 1
	entry := func(name, dtype, shape, offsets string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":[` + shape + `],"data_offsets":[` + offsets + `]}`
	}
	const damaged = " (the file is damaged or truncated: download or export it again)"
	for _, c := range []struct {
		name string
		data []byte
		want string // after "PATH: "
	}{
		{"type.gguf", badType, fmt.Sprintf(`damaged GGUF header: tensor[0] ("w").type: unknown ggml tensor type 99 (at byte %d)`, typ) + damaged},
		{"v1.gguf", v1, "GGUF version 1 is not supported (only 2 and 3); convert it to GGUF v3 with a current llama.cpp or download it again"},
		{"overlap.safetensors", stFile(`{`+entry("a", "F32", "2", "0,8")+`,`+entry("b", "F32", "2", "4,12")+`}`, 12),
			`damaged safetensors header: tensor "b": data_offsets: bytes [4, 12) of the data region overlap tensor "a"` + damaged},
		{"shape.safetensors", stFile(`{`+entry("w", "F32", "3", "0,8")+`}`, 8),
			`damaged safetensors header: tensor "w": data_offsets: [0, 8] spans 8 bytes but F32 [3] needs 12 (at byte 13)` + damaged},
		{"meta.safetensors", stFile(`{"__metadata__":{"a":1}}`, 0),
			`damaged safetensors header: __metadata__: value of key "a" is not a string (JSON text: "1") (at byte 24)` + damaged},
		{"dtype.safetensors", stFile(`{`+entry("w", "F4", "2", "0,1")+`}`, 1),
			`tensor "w": dtype: "F4" is not supported (supported: `},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(path)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		msg := err.Error()
		rest := strings.TrimPrefix(msg, path+": ")
		if !strings.HasPrefix(rest, c.want) || strings.Contains(rest, "gguf:") || strings.Contains(rest, "safetensors:") ||
			strings.Contains(rest, path) || strings.Contains(msg, "damaged") != strings.Contains(c.want, "damaged") {
			t.Errorf("%s: %q; want %q after the path, once, and no package prefix", c.name, msg, c.want)
		}
		var ge *gguf.FormatError
		var se *safetensors.FormatError
		if !errors.As(err, &ge) && !errors.As(err, &se) {
			t.Errorf("%s: %v does not match the reader's *FormatError", c.name, err)
		}
	}
}

// TestSummaryAdapter: the architecture line of an adapter file (a LoRA, a
// LyCORIS kind) names it as one, as Name does; it said "unknown model (no
// WAN DiT, T5 encoder or WAN VAE tensor names found)" above the LoRA's
// description.
func TestSummaryAdapter(t *testing.T) {
	f := &fakeSource{}
	f.add("diffusion_model.blocks.0.self_attn.q.lora_down.weight", gguf.TypeF32, 4, 4)
	if info := Detect(f); info.Summary() != info.Name() || !strings.HasPrefix(info.Summary(), "LoRA or other adapter file") {
		t.Errorf("Summary %q, Name %q; want the adapter named", info.Summary(), info.Name())
	}
	f = &fakeSource{}
	f.add("encoder.layer.0.weight", gguf.TypeF32, 4, 4)
	if got := Detect(f).Summary(); got != "unknown model (no WAN DiT, T5 encoder or WAN VAE tensor names found)" {
		t.Errorf("Summary of an unknown model %q", got)
	}
}

// TestDescribeTextAndMedia: a text file, an image and a video given for a
// model file are named as such, not by their first bytes in hex ("it
// starts with 68 65 6c 6c 6f 20 77 6f", "89 50 4e 47 0d 0a 1a 0a").
func TestDescribeTextAndMedia(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want string
	}{
		{[]byte("hello world, this is a text file\n"), `text: it starts with "hello world, this is a t"…`},
		{[]byte("Name:\twan22\n"), `text: it starts with "Name:\twan22\n"`},
		{[]byte("café au lait"), `text: it starts with "café au lait"`},
		{[]byte("# Notes about the model files: \xc3"), `text: it starts with "# Notes about the model "…`}, // 32 bytes cut inside "à"
		{[]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "a PNG image, not a model file"},
		{[]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "a JPEG image, not a model file"},
		{[]byte("GIF89a\x01\x00\x01\x00"), "a GIF image, not a model file"},
		{[]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), "a WebP image, not a model file"},
		{[]byte("RIFF\x00\x00\x00\x00AVI LIST"), "an AVI video, not a model file"},
		{[]byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2"), "an MP4 or MOV video, not a model file"},
		{[]byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00"), "an MP4 or MOV video, not a model file"},
		{[]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"), "an AVIF image, not a model file"},
		{[]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"), "a WebM or Matroska video, not a model file"},
		{[]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09"), "it starts with 01 02 03 04 05 06 07 08"},
	} {
		if got := DescribeHead(c.head); got != c.want {
			t.Errorf("DescribeHead(%q) = %q, want %q", c.head, got, c.want)
		}
	}
	// Through Open, with the supported formats.
	path := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(path, []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(path)
	if want := path + ": unrecognised file format (an MP4 or MOV video, not a model file); " + supported; err == nil || err.Error() != want {
		t.Errorf("Open(%s): %v, want %q", path, err, want)
	}
}

// TestWriteTextNoTensors: a file without tensors says "bytes by type: none"
// as it says "metadata: none", and -v prints no tensor list heading, instead
// of headings with nothing under them.
func TestWriteTextNoTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := os.WriteFile(path, stFile("{}", 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := reportOf(t, path, true); !strings.HasSuffix(out, "\n  tensors:       0, 0 bytes of data, 0 parameters\n  bytes by type: none\n  metadata:      none\n") {
		t.Errorf("report of a file without tensors:\n%s", out)
	}
}

// TestMetadataLongStrings: a long string value (a CivitAI LoRA's
// ss_tag_frequency, a long general.name) is cut after 100 characters with
// its quote closed and its length in characters of the string itself; it
// was cut inside the quotes, counting them and their escapes:
// "wan22 … freq… (105 characters).
func TestMetadataLongStrings(t *testing.T) {
	long := strings.Repeat("é", 90) + "\n" + strings.Repeat("x", 209) // 300 characters, one escaped
	want := `"` + strings.Repeat("é", 90) + `\n` + strings.Repeat("x", 9) + `"… (300 characters)`
	dir := t.TempDir()
	st := filepath.Join(dir, "lora.safetensors")
	if err := safetensors.Write(st, []safetensors.Tensor{safetensors.FromFloat32("w", []int64{1}, []float32{1})},
		map[string]string{"ss_tag_frequency": long, "short": "ok"}); err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	w.SetKV("general.name", long)
	w.SetKV("general.architecture", "wan")
	for path, out := range map[string]string{st: reportOf(t, st, false), "m.gguf": writtenReport(t, w, false)} {
		for _, line := range []string{`    short [string] = "ok"`, `    ss_tag_frequency [string] = ` + want} {
			if strings.HasSuffix(path, ".gguf") {
				line = strings.NewReplacer("ss_tag_frequency [string]", "general.name [STRING]", "short [string]", "general.architecture [STRING]", `"ok"`, `"wan"`).Replace(line)
			}
			if !strings.Contains(out, "\n"+line+"\n") {
				t.Errorf("%s: report lacks %q:\n%s", path, line, out)
			}
		}
	}
}

// TestDescribeZeros: a file whose first 32 bytes are zero, as a
// download that reserved the file's space and did not finish leaves it, is
// said to be one, with what to do, not "it starts with 00 00 00 00 00 00 00
// 00".
func TestDescribeZeros(t *testing.T) {
	path := filepath.Join(t.TempDir(), "high.gguf")
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(path)
	want := path + ": unrecognised file format (its first 32 bytes are all zero, as a download that reserved the file's space but did not finish leaves it: download it again); " + supported
	if err == nil || err.Error() != want {
		t.Errorf("Open: %v, want %q", err, want)
	}
	// A short file of zeros is too short to tell.
	if got := DescribeHead(make([]byte, 12)); got != "it starts with 00 00 00 00 00 00 00 00" {
		t.Errorf("DescribeHead of 12 zero bytes: %q", got)
	}
}
