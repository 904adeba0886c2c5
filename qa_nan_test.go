package wan22

// The QA pass's defects of the library's front door: a VAE that decodes NaN frames.

import (
	"context"
	"encoding/binary"
	"image"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// poisonDecoder copies the VAE at src into dir with every decoder weight
// NaN (the encoder stays sound, so the run reaches the decoder).
func poisonDecoder(t *testing.T, src, dir string) string {
	t.Helper()
	dst := copyFile(t, src, dir, "nan-vae.safetensors")
	f, err := safetensors.Open(dst)
	require.NoError(t, err)
	tensors := f.Tensors()
	require.NoError(t, f.Close())
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	n := 0
	for _, ti := range tensors {
		if !strings.HasPrefix(ti.Name, "decoder.") {
			continue
		}
		require.Equal(t, gguf.TypeF32, ti.Type, ti.Name)
		for o := ti.Offset; o < ti.Offset+ti.Size; o += 4 {
			binary.LittleEndian.PutUint32(b[o:], math.Float32bits(float32(math.NaN())))
		}
		n++
	}
	require.Positive(t, n, "the VAE has decoder tensors")
	require.NoError(t, os.WriteFile(dst, b, 0o644))
	return dst
}

// A VAE whose decoder makes NaN frames fails the run naming the VAE file,
// instead of writing a blank video.
func TestGenerateRefusesNonFiniteFrames(t *testing.T) {
	m := tiny
	m.VAE = poisonDecoder(t, tiny.VAE, t.TempDir())
	p := open(t, m)
	frames := 0
	err := p.Generate(context.Background(), tinyRequest(), Output{Frame: func(int, *image.RGBA) error { frames++; return nil }})
	var me *ModelError
	require.ErrorAs(t, err, &me)
	require.Equal(t, "VAE", me.Role)
	require.Equal(t, m.VAE, me.Path)
	require.ErrorContains(t, err, "non-finite")
	require.Zero(t, frames, "no frame of the broken decode reaches the output")
}
