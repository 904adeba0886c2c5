package main

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
)

// sidewaysJPEG writes a 64×32 JPEG whose EXIF says orientation 6 (rotate
// 90° clockwise): a portrait phone photo as phones store it.
func sidewaysJPEG(t *testing.T) string {
	t.Helper()
	var j bytes.Buffer
	require.NoError(t, jpeg.Encode(&j, imageprep.TestImage(64, 32), nil))
	// TIFF, big-endian: IFD0 at 8 with one entry, Orientation (0x0112) SHORT 1 = 6.
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(2+6+len(tiff)))
	app1 = append(append(app1, "Exif\x00\x00"...), tiff...)
	file := append(append(append([]byte(nil), j.Bytes()[:2]...), app1...), j.Bytes()[2:]...)
	path := filepath.Join(t.TempDir(), "phone.jpg")
	require.NoError(t, os.WriteFile(path, file, 0o644))
	return path
}

// orientArgs is i2vSetup's run with --image replaced and the output size
// left to --max-area 2048 and the image's aspect ratio.
func orientArgs(t *testing.T, image string) ([]string, string) {
	args, out := i2vSetup(t)
	i := slices.Index(args, "--size")
	args = slices.Delete(args, i, i+2)
	args[slices.Index(args, "--image")+1] = image
	return append(args, "--max-area", "2048"), out
}

// firstFrameSize is the size of the first PNG frame in dir.
func firstFrameSize(t *testing.T, dir string) (int, int) {
	t.Helper()
	names := entries(t, dir)
	require.NotEmpty(t, names)
	f, err := os.Open(filepath.Join(dir, names[0]))
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	return cfg.Width, cfg.Height
}

// TestI2VAppliesEXIFOrientation: a sideways-stored photo makes an upright
// (portrait) video, its size from the upright picture, and one line says
// what was done; --ignore-exif-orientation keeps the stored landscape
// pixels and says so (here as a --json note).
func TestI2VAppliesEXIFOrientation(t *testing.T) {
	img := sidewaysJPEG(t)
	args, out := orientArgs(t, img)

	frames := filepath.Join(out, "upright")
	code, _, stderr := runCLI(append(args, "--frames-dir", frames)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "wan22 i2v: 32x64, 5 frames")
	require.Contains(t, stderr, "wan22 i2v: --image "+img+": EXIF orientation 6 (rotate 90° clockwise) applied: the 64×32 stored pixels are used upright, as 32×64 (--ignore-exif-orientation keeps them as stored)\n")
	w, h := firstFrameSize(t, frames)
	require.Equal(t, [2]int{32, 64}, [2]int{w, h})

	frames = filepath.Join(out, "stored")
	code, stdout, stderr := runCLI(append(args, "--frames-dir", frames, "--ignore-exif-orientation", "--json")...)
	require.Equal(t, 0, code, stderr)
	evs := jsonLines(t, stdout)
	require.Equal(t, "start", evs[0]["type"])
	require.Equal(t, [2]any{64.0, 32.0}, [2]any{evs[0]["width"], evs[0]["height"]})
	var notes []any
	for _, ev := range evs {
		if ev["type"] == "note" {
			notes = append(notes, ev["message"])
		}
	}
	require.Equal(t, []any{"--image " + img + ": EXIF orientation 6 (rotate 90° clockwise) ignored: the 64×32 stored pixels are used as stored (--ignore-exif-orientation)"}, notes)
	w, h = firstFrameSize(t, frames)
	require.Equal(t, [2]int{64, 32}, [2]int{w, h})
}

// TestI2VNoEXIFOrientationNoLine: an image without an orientation (the
// tests' PNG) runs as before, with no line about it.
func TestI2VNoEXIFOrientationNoLine(t *testing.T) {
	args, out := i2vSetup(t)
	code, _, stderr := runCLI(append(args, "--frames-dir", filepath.Join(out, "f"), "--ignore-exif-orientation")...)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "EXIF")
	require.Contains(t, stderr, "wan22 i2v: 32x16, 5 frames")
}

// TestI2VHelpEXIFOrientation: the help says what happens to the
// orientation, and lists the flag.
func TestI2VHelpEXIFOrientation(t *testing.T) {
	code, stdout, stderr := runCLI("i2v", "-h")
	require.Equal(t, 0, code)
	help := stdout + stderr
	require.Contains(t, help, "Its EXIF orientation is applied first, as ComfyUI's LoadImage does")
	require.Regexp(t, `\n  -ignore-exif-orientation\n`, help)
}
