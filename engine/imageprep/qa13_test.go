package imageprep

import (
	"encoding/binary"
	"strings"
	"testing"
)

// animatedWebPFile is the start of an animated WebP as img2webp writes it: a
// VP8X chunk whose flags say animation (and alpha), an ANIM chunk, and one
// ANMF frame chunk, empty.
func animatedWebPFile() []byte {
	var b []byte
	chunk := func(id string, data []byte) {
		b = append(b, id...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, data...)
	}
	b = append(b, "RIFF\x00\x00\x00\x00WEBP"...)
	chunk("VP8X", []byte{0x12, 0, 0, 0, 47, 0, 0, 23, 0, 0}) // animation and alpha; 48×24
	chunk("ANIM", []byte{0xff, 0xff, 0xff, 0xff, 0, 0})
	chunk("ANMF", make([]byte, 16))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// TestLoadAnimatedWebP: an animated WebP, which the WebP decoder does not
// read, is said to be one, with what to do; it was "damaged or truncated:
// webp: invalid format", as if the file were broken. A still WebP whose
// VP8X chunk has no animation flag is not taken for one.
func TestLoadAnimatedWebP(t *testing.T) {
	p := writeFile(t, "a.webp", animatedWebPFile())
	_, err := Load(p)
	if err == nil {
		t.Fatal("an animated WebP loaded")
	}
	want := "image " + p + ": is an animated WebP, and only still images are read: save the frame to start from as a PNG or JPEG image"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err, want)
	}
	still := animatedWebPFile()
	still[20] = 0x10 // alpha only
	_, err = Load(writeFile(t, "s.webp", still))
	if err == nil || strings.Contains(err.Error(), "animated") {
		t.Fatalf("a still WebP's error: %v", err)
	}
}

// TestSizeAboveMaxSideSaysWhatToDo: an image so elongated that the max
// area gives a side above pipeline.MaxSide is told the largest max area
// that fits (and that the size can be given), or, when none gives both
// sides from 16 up, to crop it; the message named the problem only.
func TestSizeAboveMaxSideSaysWhatToDo(t *testing.T) {
	_, _, err := Size(16, 4000, 921600)
	if err == nil {
		t.Fatal("16×4000 at 921600 fitted")
	}
	want := "max area 921600 with image 16×4000 gives an output above 4096 pixels a side; a max area of 67634 or less fits, or give the output size"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err, want)
	}
	if w, h, err := Size(16, 4000, 67634); err != nil || h > 4096 || w < 16 {
		t.Fatalf("the max area advised gives %d×%d, %v", w, h, err)
	}
	if _, _, err := Size(16, 4000, 67635); err == nil {
		t.Fatal("one more than the max area advised fits")
	}
	_, _, err = Size(1, 4000, 921600)
	want = "image 1×4000 with max area 921600 gives an output under 16 pixels a side, and no max area gives both sides from 16 to 4096 for an image this elongated: crop it, or give the output size"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %q", err, want)
	}

	// Under 16 pixels: the smallest max area that fits; it advised a
	// larger max area even where none fits.
	_, _, err = Size(16, 400, 1024)
	want = "image 16×400 with max area 1024 gives an output under 16 pixels a side; a max area of 6400 or more fits, or give the output size"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %q", err, want)
	}
	if _, _, err := Size(16, 400, 6400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Size(16, 400, 6399); err == nil {
		t.Fatal("one less than the max area advised fits")
	}
	_, _, err = Size(1, 4000, 1024)
	if err == nil || !strings.Contains(err.Error(), "under 16 pixels a side, and no max area gives both sides") {
		t.Fatalf("1×4000 at 1024: %v", err)
	}
}
