package video

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testFrame is frame k of a moving gradient with a bright square.
func testFrame(w, h, k int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(40 * k), 255}
			if x >= 4*k && x < 4*k+8 && y >= 8 && y < 16 {
				c = color.RGBA{250, 250, 250, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func writeVideo(t *testing.T, path string, o Options, n int) *File {
	t.Helper()
	f, err := Create(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	for k := range n {
		if err := f.WriteFrame(testFrame(o.Width, o.Height, k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// riffChunk is one parsed RIFF chunk.
type riffChunk struct {
	id, list string // list: the form type of RIFF/LIST chunks
	off      int    // offset of the chunk header
	data     []byte
	kids     []riffChunk
}

// parseRIFF parses chunks in b (at file offset base), recursing into lists.
func parseRIFF(t *testing.T, b []byte, base int) []riffChunk {
	t.Helper()
	var out []riffChunk
	for p := 0; p < len(b); {
		if p+8 > len(b) {
			t.Fatalf("chunk header at %d runs past its parent", base+p)
		}
		c := riffChunk{id: string(b[p : p+4]), off: base + p}
		size := int(binary.LittleEndian.Uint32(b[p+4:]))
		if p+8+size > len(b) {
			t.Fatalf("chunk %q at %d: size %d runs past its parent (%d left)", c.id, base+p, size, len(b)-p-8)
		}
		c.data = b[p+8 : p+8+size]
		if c.id == "RIFF" || c.id == "LIST" {
			c.list = string(c.data[:4])
			c.kids = parseRIFF(t, c.data[4:], base+p+12)
		}
		out = append(out, c)
		p += 8 + size + size&1
	}
	return out
}

func find(cs []riffChunk, id string) *riffChunk {
	for i := range cs {
		if cs[i].id == id || (cs[i].list == id) {
			return &cs[i]
		}
	}
	return nil
}

func TestAVIStructureAndFrames(t *testing.T) {
	const w, h, n = 48, 32, 5
	path := filepath.Join(t.TempDir(), "out.avi")
	f := writeVideo(t, path, Options{Width: w, Height: h, FPS: 16}, n)
	if f.Path() != path || f.Format() != AVI || f.Fallback() != "" || f.Frames() != n {
		t.Fatalf("path %q format %v fallback %q frames %d", f.Path(), f.Format(), f.Fallback(), f.Frames())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	top := parseRIFF(t, data, 0)
	if len(top) != 1 || top[0].id != "RIFF" || top[0].list != "AVI " || 8+len(top[0].data) != len(data) {
		t.Fatalf("top level: %d chunks, want one RIFF 'AVI ' covering the file", len(top))
	}
	avi := top[0].kids
	hdrl, movi, idx1 := find(avi, "hdrl"), find(avi, "movi"), find(avi, "idx1")
	if hdrl == nil || movi == nil || idx1 == nil {
		t.Fatal("missing hdrl, movi or idx1")
	}
	avih := find(hdrl.kids, "avih")
	le := binary.LittleEndian
	if got := [4]uint32{le.Uint32(avih.data[0:]), le.Uint32(avih.data[16:]), le.Uint32(avih.data[32:]), le.Uint32(avih.data[36:])}; got != [4]uint32{62500, n, w, h} {
		t.Errorf("avih µs/frame, frames, width, height = %v", got)
	}
	strl := find(hdrl.kids, "strl")
	strh, strf := find(strl.kids, "strh"), find(strl.kids, "strf")
	if string(strh.data[:8]) != "vidsMJPG" || le.Uint32(strh.data[20:]) != 1 || le.Uint32(strh.data[24:]) != 16 || le.Uint32(strh.data[32:]) != n {
		t.Errorf("strh: %q scale %d rate %d length %d", strh.data[:8], le.Uint32(strh.data[20:]), le.Uint32(strh.data[24:]), le.Uint32(strh.data[32:]))
	}
	if le.Uint32(strf.data[4:]) != w || le.Uint32(strf.data[8:]) != h || string(strf.data[16:20]) != "MJPG" {
		t.Errorf("strf: %d×%d %q", le.Uint32(strf.data[4:]), le.Uint32(strf.data[8:]), strf.data[16:20])
	}
	if len(movi.kids) != n || len(idx1.data) != 16*n {
		t.Fatalf("movi has %d chunks and idx1 %d entries, want %d", len(movi.kids), len(idx1.data)/16, n)
	}
	moviBase := movi.off + 8 // the 'movi' fourcc
	for k, c := range movi.kids {
		e := idx1.data[16*k:]
		if c.id != "00dc" || string(e[:4]) != "00dc" || le.Uint32(e[4:]) != 0x10 ||
			int(le.Uint32(e[8:])) != c.off-moviBase || int(le.Uint32(e[12:])) != len(c.data) {
			t.Errorf("frame %d: chunk %q at %d size %d, index %q flags %#x offset %d size %d",
				k, c.id, c.off, len(c.data), e[:4], le.Uint32(e[4:]), le.Uint32(e[8:]), le.Uint32(e[12:]))
		}
		img, err := jpeg.Decode(bytes.NewReader(c.data))
		if err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
		want := testFrame(w, h, k)
		if img.Bounds() != want.Bounds() {
			t.Fatalf("frame %d is %v", k, img.Bounds())
		}
		var sum, worst int
		for y := range h {
			for x := range w {
				r, g, b, _ := img.At(x, y).RGBA()
				q := want.RGBAAt(x, y)
				for i, v := range []int{int(r >> 8), int(g >> 8), int(b >> 8)} {
					d := max(v-int([]uint8{q.R, q.G, q.B}[i]), int([]uint8{q.R, q.G, q.B}[i])-v)
					sum += d
					worst = max(worst, d)
				}
			}
		}
		if mean := float64(sum) / float64(3*w*h); mean > 4 || worst > 80 {
			t.Errorf("frame %d: mean |Δ| %.2f, max %d levels: more than JPEG error", k, mean, worst)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d entries in the output directory, want only the video", len(entries))
	}
}

func TestAVIDeterministic(t *testing.T) {
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		p := filepath.Join(dir, "v"+strconv.Itoa(i)+".avi")
		writeVideo(t, p, Options{Width: 32, Height: 16}, 3)
		files[i], _ = os.ReadFile(p)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("the same frames gave different AVI bytes")
	}
}

// namedFormat is an output name of a test and the Format it is written in.
type namedFormat struct {
	name string
	f    Format
}

// everyFormat is a name for each format: an AVI, a PNG folder and, when
// ffmpeg is installed, an MP4.
func everyFormat() []namedFormat {
	formats := []namedFormat{{"a.avi", Auto}, {"frames", PNGDir}}
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		formats = append(formats, namedFormat{"a.mp4", Auto})
	}
	return formats
}

func TestAbortLeavesNothing(t *testing.T) {
	for _, c := range everyFormat() {
		dir := t.TempDir()
		f, err := Create(context.Background(), filepath.Join(dir, c.name), Options{Width: 32, Height: 16, Format: c.f})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if err := f.WriteFrame(testFrame(32, 16, k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Abort(); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err == nil {
			t.Errorf("%s: Close after Abort succeeded", c.name)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: Abort left %v", c.name, ents)
		}
	}
}

func TestPNGDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "frames")
	writeVideo(t, target, Options{Width: 20, Height: 10, Format: PNGDir}, 3)
	for k := range 3 {
		fh, err := os.Open(filepath.Join(target, "frame_000"+strconv.Itoa(k)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := testFrame(20, 10, k)
		for y := range 10 {
			for x := range 20 {
				if r, g, b, _ := img.At(x, y).RGBA(); [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)} != [3]uint8(want.Pix[want.PixOffset(x, y):][:3]) {
					t.Fatalf("frame %d pixel (%d,%d) differs", k, x, y)
				}
			}
		}
	}
	if _, err := Create(context.Background(), target, Options{Width: 20, Height: 10, Format: PNGDir, Overwrite: true}); err == nil {
		t.Error("PNGDir onto an existing directory was accepted")
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.avi")
	os.WriteFile(existing, []byte("user data"), 0o644)
	ctx := context.Background()
	for _, c := range []struct {
		name, path string
		o          Options
		want       string
	}{
		{"empty path", "", Options{Width: 16, Height: 16}, "no output path"},
		{"odd mp4", filepath.Join(dir, "a.mp4"), Options{Width: 33, Height: 16}, "even width and height"},
		{"unknown ext", filepath.Join(dir, "a.mkv"), Options{Width: 16, Height: 16}, "unknown extension"},
		{"no size", filepath.Join(dir, "a.avi"), Options{}, "frame size"},
		{"fps", filepath.Join(dir, "a.avi"), Options{Width: 16, Height: 16, FPS: -3}, "fps"},
		{"missing dir", filepath.Join(dir, "nope", "a.avi"), Options{Width: 16, Height: 16}, "does not exist"},
		{"parent is a file", filepath.Join(existing, "a.avi"), Options{Width: 16, Height: 16}, "not a directory"},
		{"exists", existing, Options{Width: 16, Height: 16}, "already exists"},
		{"target is a dir", dir, Options{Width: 16, Height: 16, Format: AVI, Overwrite: true}, "is a directory"},
	} {
		f, err := Create(ctx, c.path, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Create = %v; want an error containing %q", c.name, err, c.want)
		}
		if f != nil {
			f.Abort()
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "user data" {
		t.Error("the existing file was changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("refused Creates left %d entries", len(ents))
	}
	// Overwrite replaces a file, only on Close.
	f := writeVideo(t, existing, Options{Width: 16, Height: 16, Overwrite: true}, 1)
	if b, _ := os.ReadFile(f.Path()); !bytes.HasPrefix(b, []byte("RIFF")) {
		t.Error("Overwrite did not replace the file")
	}
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		ro := t.TempDir()
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
		if _, err := Create(ctx, filepath.Join(ro, "a.avi"), Options{Width: 16, Height: 16}); err == nil || !strings.Contains(err.Error(), "cannot write") {
			t.Errorf("unwritable directory: %v", err)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := Create(ctx, filepath.Join(dir, "a.avi"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFrame(testFrame(8, 8, 0)); err == nil || !strings.Contains(err.Error(), "8×8") {
		t.Errorf("wrong size frame: %v", err)
	}
	if err := f.WriteFrame(testFrame(16, 16, 0)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := f.WriteFrame(testFrame(16, 16, 1)); err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Errorf("write after cancel: %v", err)
	}
	if err := f.Close(); err == nil {
		t.Error("Close after a cancelled write succeeded")
	}
	// No frames: Close fails and leaves nothing.
	g, err := Create(context.Background(), filepath.Join(dir, "b.avi"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err == nil || !strings.Contains(err.Error(), "no frames") {
		t.Errorf("Close with no frames: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

func TestAVISizeLimit(t *testing.T) {
	f, err := Create(context.Background(), filepath.Join(t.TempDir(), "a.avi"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.enc.(*aviEnc).pos = MaxAVIBytes - 100 // as if ~1 GiB were written
	if err := f.WriteFrame(testFrame(16, 16, 0)); err == nil || !strings.Contains(err.Error(), "1024 MiB") {
		t.Errorf("write past the AVI limit: %v", err)
	}
}

func TestFrameRGBA(t *testing.T) {
	// [3, 2, 1, 3]: frame 1 holds the interesting values in channel 0.
	v := make([]float32, 3*2*3)
	copy(v[3:6], []float32{-1, 0, 1})                    // c0, frame 1
	copy(v[9:12], []float32{-2, 2, 0.5})                 // c1, frame 1
	copy(v[15:18], []float32{0.999, -0.999, float32(0)}) // c2, frame 1
	img, err := FrameRGBA(nil, v, 2, 1, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0, 0, 254, 255, 127, 255, 0, 255, 255, 191, 127, 255}
	if !bytes.Equal(img.Pix, want) {
		t.Errorf("FrameRGBA = %v, want %v", img.Pix, want)
	}
	if _, err := FrameRGBA(nil, v[:5], 2, 1, 1, 3); err == nil {
		t.Error("short input accepted")
	}
	// A NaN or ±Inf (a broken decoder) is refused, naming where it is,
	// rather than written as a black or white pixel.
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		at  int // index into v, frame 1
		val float32
		ch  int
		x   int
	}{{4, float32(math.NaN()), 0, 1}, {11, inf, 1, 2}, {15, -inf, 2, 0}} {
		bad := slices.Clone(v)
		bad[c.at] = c.val
		_, err := FrameRGBA(nil, bad, 2, 1, 1, 3)
		var nf *NonFiniteError
		if !errors.As(err, &nf) {
			t.Fatalf("%v at %d: %v, want a *NonFiniteError", c.val, c.at, err)
		}
		if want := (NonFiniteError{Frame: 1, Channel: c.ch, X: c.x, Y: 0}); nf.Frame != want.Frame || nf.Channel != want.Channel || nf.X != want.X || nf.Y != want.Y {
			t.Errorf("%v at %d: %+v, want frame 1, channel %d, x %d", c.val, c.at, *nf, c.ch, c.x)
		}
		if !strings.Contains(err.Error(), "non-finite") {
			t.Errorf("message %q", err)
		}
		// The other frame of the chunk is sound.
		if _, err := FrameRGBA(nil, bad, 2, 0, 1, 3); err != nil {
			t.Errorf("frame 0 beside a broken frame 1: %v", err)
		}
	}
}

// A File reports the frame size and rate it was created with, so that a
// producer can check them before making frames.
func TestFileReportsSizeAndFPS(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{{Width: 64, Height: 32}, {Width: 16, Height: 48, FPS: 30}} {
		f, err := Create(context.Background(), filepath.Join(dir, "v.avi"), o)
		if err != nil {
			t.Fatal(err)
		}
		var w Writer = f
		sz, ok1 := w.(FrameSizer)
		fr, ok2 := w.(FrameRater)
		if !ok1 || !ok2 {
			t.Fatal("a File is not a FrameSizer and a FrameRater")
		}
		wantFPS := o.FPS
		if wantFPS == 0 {
			wantFPS = DefaultFPS
		}
		if gw, gh := sz.FrameSize(); gw != o.Width || gh != o.Height || fr.FPS() != wantFPS {
			t.Errorf("%+v: FrameSize %d×%d, FPS %d", o, gw, gh, fr.FPS())
		}
		f.Abort()
	}
}

// fakeFFmpeg puts an executable "ffmpeg" shell script first on PATH (the rest of PATH stays, so the script
// finds cat and the like: without it a script that drains its input dies at once and the writes race its exit).
func fakeFFmpeg(t *testing.T, script string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake ffmpeg is a shell script")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestFFmpegFailsMidStream(t *testing.T) {
	fakeFFmpeg(t, "head -c 5000 >/dev/null\necho 'frame=  2 something' >&2\necho 'Error: disk on fire' >&2\nexit 1\n")
	dir := t.TempDir()
	f, err := Create(context.Background(), filepath.Join(dir, "a.mp4"), Options{Width: 64, Height: 64})
	if err != nil {
		t.Fatal(err)
	}
	if f.Fallback() != "" {
		t.Fatal("the fake ffmpeg was not used")
	}
	var werr error
	for k := 0; k < 200 && werr == nil; k++ { // 16 KiB a frame: the pipe fills
		werr = f.WriteFrame(testFrame(64, 64, k%8))
	}
	if werr == nil || !strings.Contains(werr.Error(), "disk on fire") {
		t.Errorf("WriteFrame = %v; want ffmpeg's last lines", werr)
	}
	if err := f.Close(); err == nil {
		t.Error("Close after ffmpeg failed succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

func TestFFmpegFailsAtEnd(t *testing.T) {
	fakeFFmpeg(t, "cat >/dev/null\necho 'muxer exploded' >&2\nexit 3\n")
	dir := t.TempDir()
	f, err := Create(context.Background(), filepath.Join(dir, "a.mp4"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		if err := f.WriteFrame(testFrame(16, 16, k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "muxer exploded") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Close = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

func TestFallbackWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	f := writeVideo(t, filepath.Join(dir, "clip.mp4"), Options{Width: 16, Height: 16}, 2)
	if f.Format() != AVI || f.Path() != filepath.Join(dir, "clip.avi") || f.Path() != FallbackPath(filepath.Join(dir, "clip.mp4")) || !strings.Contains(f.Fallback(), "install ffmpeg") {
		t.Errorf("fallback: format %v path %s message %q", f.Format(), f.Path(), f.Fallback())
	}
	if _, err := os.Stat(filepath.Join(dir, "clip.avi")); err != nil {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries, want only clip.avi", len(ents))
	}
}

// probe runs ffprobe on the first video stream of path.
func probe(t *testing.T, path string) map[string]any {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,color_space,color_transfer,color_primaries,r_frame_rate",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct{ Streams []map[string]any }
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return r.Streams[0]
}

func needFFmpeg(t *testing.T) {
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not on PATH: the MP4 path is not tested here (apt install ffmpeg)", b)
		}
	}
}

func TestMP4WithRealFFmpeg(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	const w, h, n = 64, 48, 9
	var bytesOf [2][]byte
	for i := range bytesOf {
		p := filepath.Join(dir, "v"+strconv.Itoa(i)+".mp4")
		f := writeVideo(t, p, Options{Width: w, Height: h}, n)
		if f.Format() != MP4 || f.Fallback() != "" {
			t.Fatalf("format %v, fallback %q", f.Format(), f.Fallback())
		}
		bytesOf[i], _ = os.ReadFile(p)
	}
	if !bytes.Equal(bytesOf[0], bytesOf[1]) {
		t.Error("the same frames gave different MP4 bytes")
	}
	s := probe(t, filepath.Join(dir, "v0.mp4"))
	want := map[string]any{"codec_name": "h264", "pix_fmt": "yuv420p", "width": float64(w), "height": float64(h),
		"nb_read_frames": strconv.Itoa(n), "color_space": "bt709", "color_transfer": "bt709", "color_primaries": "bt709", "r_frame_rate": "16/1"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("ffprobe %s = %v, want %v", k, s[k], v)
		}
	}
	// Decode back with the BT.709 matrix: colours must survive (a BT.601
	// encode read as BT.709 shifts saturated colours by 10+ levels).
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(dir, "v0.mp4"),
		"-vf", "scale=in_color_matrix=bt709:in_range=tv", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != 3*w*h {
		t.Fatalf("decode: %v, %d bytes", err, len(out))
	}
	ref := testFrame(w, h, 0)
	var sum int
	for p := range w * h {
		for c := range 3 {
			d := int(out[3*p+c]) - int(ref.Pix[4*p+c])
			sum += max(d, -d)
		}
	}
	if mean := float64(sum) / float64(3*w*h); mean > 3 {
		t.Errorf("decoded frame 0 differs by %.2f levels on average", mean)
	}
	// The AVI fallback format is readable by ffprobe too.
	avi := filepath.Join(dir, "v.avi")
	writeVideo(t, avi, Options{Width: w, Height: h}, n)
	if s := probe(t, avi); s["codec_name"] != "mjpeg" || s["nb_read_frames"] != strconv.Itoa(n) {
		t.Errorf("ffprobe of the AVI: %v", s)
	}
}

// TestFormatOf: the format Create's Auto picks from the extension, in any
// case, and an *ExtensionError naming the path and the extension otherwise
// (with Create's message).
func TestFormatOf(t *testing.T) {
	for _, c := range []struct {
		path string
		want Format
		ext  string // of the error, when want is Auto
	}{
		{"clip.mp4", MP4, ""}, {"a/b.MP4", MP4, ""}, {"x.avi", AVI, ""}, {"x.AvI", AVI, ""},
		{"x.mkv", Auto, ".mkv"}, {"x.MOV", Auto, ".mov"}, {"noext", Auto, ""}, {"dir.mp4/x", Auto, ""}, {"x.mp4.png", Auto, ".png"},
	} {
		got, err := FormatOf(c.path)
		if got != c.want {
			t.Errorf("FormatOf(%q) = %v, want %v", c.path, got, c.want)
		}
		if c.want != Auto {
			if err != nil {
				t.Errorf("FormatOf(%q): %v", c.path, err)
			}
			continue
		}
		var ee *ExtensionError
		if !errors.As(err, &ee) || ee.Path != c.path || ee.Ext != c.ext {
			t.Errorf("FormatOf(%q) error %#v, want an *ExtensionError with Ext %q", c.path, err, c.ext)
			continue
		}
		want := fmt.Sprintf("video %s: unknown extension %q: use .mp4 (H.264 through ffmpeg), .avi (MJPEG) or a frames directory", c.path, c.ext)
		if err.Error() != want {
			t.Errorf("FormatOf(%q): %q, want %q", c.path, err, want)
		}
		if _, cerr := Create(context.Background(), c.path, Options{Width: 16, Height: 16}); cerr == nil || cerr.Error() != want {
			t.Errorf("Create(%q) = %v, want %q", c.path, cerr, want)
		}
	}
}

// TestFallbackPath: an MP4 without ffmpeg goes to the name ending in .avi,
// whatever the case of .mp4.
func TestFallbackPath(t *testing.T) {
	for in, want := range map[string]string{"a/clip.mp4": "a/clip.avi", "x.MP4": "x.avi", "v.1.mp4": "v.1.avi"} {
		if got := FallbackPath(in); got != want {
			t.Errorf("FallbackPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFileErr: a File takes frames until Close or Abort, a failed frame or the end of its context, and Err
// says which; it is nil before.
func TestFileErr(t *testing.T) {
	dir := t.TempDir()
	create := func(ctx context.Context, name string) *File {
		f, err := Create(ctx, filepath.Join(dir, name), Options{Width: 4, Height: 2, Format: AVI})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Abort() })
		return f
	}
	frame := image.NewRGBA(image.Rect(0, 0, 4, 2))

	f := create(context.Background(), "open.avi")
	if err := f.Err(); err != nil {
		t.Errorf("a new File: %v", err)
	}
	if err := f.WriteFrame(frame); err != nil || f.Err() != nil {
		t.Fatalf("after a frame: %v, %v", err, f.Err())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v, want closed", err)
	}

	f = create(context.Background(), "aborted.avi")
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Errorf("after Abort: %v, want aborted", err)
	}

	f = create(context.Background(), "empty-closed.avi")
	_ = f.Close() // no frames: an error, and the File is done
	if f.Err() == nil {
		t.Error("after a failed Close: nil")
	}

	ctx, cancel := context.WithCancel(context.Background())
	f = create(ctx, "cancelled.avi")
	cancel()
	if err := f.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after its context ended: %v, want context.Canceled", err)
	}
}

// TestCloseAfterCancelLeavesNothing: a File whose context ends after its
// frames and before Close (a run cancelled between frames, or Ctrl-C as the
// caller closes it) fails to close in every format and leaves nothing, as
// the MP4's killed ffmpeg always did; the AVI and PNG writers renamed the
// partial video onto the target.
func TestCloseAfterCancelLeavesNothing(t *testing.T) {
	for _, c := range everyFormat() {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		f, err := Create(ctx, filepath.Join(dir, c.name), Options{Width: 32, Height: 16, Format: c.f})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if err := f.WriteFrame(testFrame(32, 16, k)); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		if err := f.Close(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Close after its context ended: %v, want context.Canceled", c.name, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: Close after its context ended left %v", c.name, ents)
		}
	}
}

// TestWriteFrameCancelledMidFrame: a cancel while WriteFrame waits on
// ffmpeg (a frame of 1280×720 is larger than a pipe) kills ffmpeg, and the
// failed write is the cancellation (errors.Is context.Canceled), not only
// 'ffmpeg failed: signal: killed', so that Generate's error wraps ctx's.
func TestWriteFrameCancelledMidFrame(t *testing.T) {
	fakeFFmpeg(t, "exec sleep 30\n") // reads nothing: the first frame fills the pipe
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	f, err := Create(ctx, filepath.Join(dir, "a.mp4"), Options{Width: 256, Height: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if f.Fallback() != "" {
		t.Fatal("the fake ffmpeg was not used")
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	err = f.WriteFrame(testFrame(256, 256, 0))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("WriteFrame cancelled while ffmpeg reads nothing: %v, want context.Canceled", err)
	}
	if err := f.Close(); err == nil {
		t.Error("Close after the cancel succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

// TestCancelledAfterOneFrame: the cancel messages of WriteFrame and Close
// count the frames written in English: "after 1 frame", not "1 frames".
func TestCancelledAfterOneFrame(t *testing.T) {
	dir := t.TempDir()
	for _, atClose := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		f, err := Create(ctx, filepath.Join(dir, "a.avi"), Options{Width: 16, Height: 16})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.WriteFrame(testFrame(16, 16, 0)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if atClose {
			err = f.Close()
		} else {
			err = f.WriteFrame(testFrame(16, 16, 1))
			f.Abort()
		}
		if err == nil || !strings.Contains(err.Error(), "cancelled after 1 frame:") {
			t.Errorf("at Close %v: %v, want 'cancelled after 1 frame:'", atClose, err)
		}
	}
}

// TestAVILimitAfterOneFrame: the AVI size limit counts the frames written
// in English too.
func TestAVILimitAfterOneFrame(t *testing.T) {
	f, err := Create(context.Background(), filepath.Join(t.TempDir(), "a.avi"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if err := f.WriteFrame(testFrame(16, 16, 0)); err != nil {
		t.Fatal(err)
	}
	f.enc.(*aviEnc).pos = MaxAVIBytes - 100
	if err := f.WriteFrame(testFrame(16, 16, 1)); err == nil || !strings.Contains(err.Error(), "after 1 frame (") {
		t.Errorf("write past the AVI limit after one frame: %v", err)
	}
}

// TestFrameRGBAHugeSides: sides whose product overflows an int are refused
// naming them, not with a size computed past the overflow ("want 0").
func TestFrameRGBAHugeSides(t *testing.T) {
	for _, c := range []struct{ n, h, w int }{
		{1, 1 << 32, 1 << 32}, // h×w wraps to 0
		{1 << 62, 1, 1},       // 3×n overflows
		{1, 1 << 31, 1 << 31}, // 4×h×w overflows
	} {
		_, err := FrameRGBA(nil, make([]float32, 3), c.n, 0, c.h, c.w)
		if err == nil || strings.Contains(err.Error(), "want") || !strings.Contains(err.Error(), fmt.Sprintf("%d×%d", c.w, c.h)) {
			t.Errorf("FrameRGBA of [3, %d, %d, %d]: %v, want a refusal naming the sides", c.n, c.h, c.w, err)
		}
	}
}

// TestCreateOnFolder: Create (format Auto) on an existing folder says that
// it is one and to name a file inside it, not that its extension is
// unknown.
func TestCreateOnFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := Create(context.Background(), dir, Options{Width: 16, Height: 16})
	if err == nil || strings.Contains(err.Error(), "extension") || !strings.Contains(err.Error(), "is a directory") ||
		!strings.Contains(err.Error(), filepath.Join(dir, "video.mp4")) {
		t.Errorf("Create(a folder): %v, want it called a directory, with a file inside it to name", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}
