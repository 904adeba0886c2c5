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

	"github.com/wan22/wan22/engine/pipeline"
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
	n := poisonF32(t, dst, tensors, func(ti gguf.TensorInfo) bool {
		if !strings.HasPrefix(ti.Name, "decoder.") {
			return false
		}
		require.Equal(t, gguf.TypeF32, ti.Type, ti.Name)
		return true
	})
	require.Positive(t, n, "the VAE has decoder tensors")
	return dst
}

// poisonF32 sets every value of the F32 tensors of the file at path that
// pick chooses (tensors: the file's list, absolute offsets) to NaN, and
// returns how many tensors it poisoned.
func poisonF32(t *testing.T, path string, tensors []gguf.TensorInfo, pick func(gguf.TensorInfo) bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for _, ti := range tensors {
		if !pick(ti) {
			continue
		}
		for o := ti.Offset; o < ti.Offset+ti.Size; o += 4 {
			binary.LittleEndian.PutUint32(b[o:], math.Float32bits(float32(math.NaN())))
		}
		n++
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return n
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

// poisonExpert copies the expert at src into dir with every F32 weight of
// its first block NaN.
func poisonExpert(t *testing.T, src, dir, name string) string {
	t.Helper()
	dst := copyFile(t, src, dir, name)
	f, err := gguf.Open(dst)
	require.NoError(t, err)
	tensors := f.Tensors()
	require.NoError(t, f.Close())
	n := poisonF32(t, dst, tensors, func(ti gguf.TensorInfo) bool {
		return strings.HasPrefix(ti.Name, "blocks.0.") && ti.Type == gguf.TypeF32
	})
	require.Positive(t, n, "the expert has F32 tensors in its first block")
	return dst
}

// An expert whose weights make the latent NaN fails the run as a *ModelError
// naming that expert's file and the step (the pipeline's NonFiniteError
// inside), before any frame is decoded; with a LoRA attached to it the
// message names the LoRA as a suspect too.
func TestGenerateNamesTheNonFiniteExpert(t *testing.T) {
	for _, low := range []bool{false, true} {
		m := tiny
		role, want := "high-noise expert", &m.High
		if low {
			role, want = "low-noise expert", &m.Low
		}
		*want = poisonExpert(t, *want, t.TempDir(), "nan-expert.gguf")
		p := open(t, m)
		frames := 0
		err := p.Generate(context.Background(), tinyRequest(), Output{Frame: func(int, *image.RGBA) error { frames++; return nil }})
		var me *ModelError
		require.ErrorAs(t, err, &me, role)
		require.Equal(t, role, me.Role)
		require.Equal(t, *want, me.Path)
		var nf *pipeline.NonFiniteError
		require.ErrorAs(t, err, &nf)
		require.ErrorContains(t, err, "download or convert it again")
		require.Zero(t, frames, "no frame reaches the output")
	}
}
