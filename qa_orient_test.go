package wan22

// A phone photo stored sideways, through the library's front door: loaded
// with imageprep, its output size follows the upright picture.

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
)

// sidewaysPNG writes a 64×32 PNG whose eXIf chunk says orientation 8
// (rotate 90° counter-clockwise), in little-endian TIFF.
func sidewaysPNG(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, imageprep.TestImage(64, 32)))
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00")
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(append(chunk, "eXIf"...), tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	file := append(append(append([]byte(nil), b.Bytes()[:33]...), chunk...), b.Bytes()[33:]...) // after IHDR
	path := filepath.Join(t.TempDir(), "phone.png")
	require.NoError(t, os.WriteFile(path, file, 0o644))
	return path
}

// TestResolveUprightImage: imageprep.Load turns the photo upright, and
// Resolve sizes the video from it (portrait); LoadWith with
// IgnoreOrientation keeps the stored landscape pixels and size. Generate
// writes frames of the upright size.
func TestResolveUprightImage(t *testing.T) {
	path := sidewaysPNG(t)
	p := open(t, tiny)

	img, err := imageprep.Load(path)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 32, 64), img.Bounds())
	s, err := p.Resolve(Request{Image: img, MaxArea: 2048, Frames: 5, Steps: 2})
	require.NoError(t, err)
	require.Equal(t, [2]int{32, 64}, [2]int{s.Width, s.Height})
	// Turned 90° counter-clockwise, the stored right edge is the top: the
	// upright top-left pixel is the stored top-right one, the upright
	// bottom-left the stored top-left.
	stored := imageprep.TestImage(64, 32)
	require.Equal(t, stored.At(63, 0), img.At(0, 0))
	require.Equal(t, stored.At(0, 0), img.At(0, 63))

	l, err := imageprep.LoadWith(path, imageprep.LoadOptions{IgnoreOrientation: true})
	require.NoError(t, err)
	require.Equal(t, imageprep.OrientRotate270, l.Orientation)
	require.False(t, l.Applied)
	s2, err := p.Resolve(Request{Image: l.Image, MaxArea: 2048, Frames: 5, Steps: 2})
	require.NoError(t, err)
	require.Equal(t, [2]int{64, 32}, [2]int{s2.Width, s2.Height})

	var sizes []image.Rectangle
	err = p.Generate(context.Background(), Request{Image: img, MaxArea: 2048, Frames: 5, Steps: 2, Seed: 1},
		Output{Frame: func(i int, f *image.RGBA) error { sizes = append(sizes, f.Bounds()); return nil }})
	require.NoError(t, err)
	require.Len(t, sizes, 5)
	require.Equal(t, image.Rect(0, 0, 32, 64), sizes[0])
}
