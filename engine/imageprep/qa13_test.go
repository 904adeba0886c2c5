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
