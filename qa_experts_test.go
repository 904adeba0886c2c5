package wan22

// The QA pass's defects of the library's front door: the experts' shape checks.

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/gguf"
)

// shapeDiff names every field of modelfile.DiTConfig (one added later
// must be named too, or two experts differing in it would pass).
func TestShapeDiffCoversEveryField(t *testing.T) {
	base := modelfile.DiTConfig{Variant: "i2v", Dim: 256, Layers: 2, Heads: 2, FFNDim: 512, InDim: 36, OutDim: 16, TextDim: 64, FreqDim: 256, Patch: [3]int{1, 2, 2}}
	require.Empty(t, shapeDiff(base, base))
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("t2v")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Array:
			f.Index(0).SetInt(f.Index(0).Int() + 1)
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", typ.Field(i).Name, f.Kind())
		}
		d := shapeDiff(other, base)
		require.NotEmpty(t, d, typ.Field(i).Name)
		require.NotContains(t, d, ";", "%s: only that field differs", typ.Field(i).Name)
	}
}

// writeExpert writes a tiny i2v expert with cfg changed by mod.
func writeExpert(t *testing.T, dir, name string, seed int64, mod func(*dit.Config)) string {
	t.Helper()
	cfg := tinymodels.DiT()
	mod(&cfg)
	path := filepath.Join(dir, name)
	require.NoError(t, dit.WriteSynthetic(path, cfg, gguf.TypeF16, seed))
	return path
}

// Experts of different shapes are refused naming the fields that differ;
// experts that agree but do not fit the VAE's latent are refused at Open.
func TestExpertShapeMessages(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		mod  func(*dit.Config)
		want string
	}{
		"out-channels": {func(c *dit.Config) { c.OutDim = 8 }, "out-channels 8, not 16"},
		"text width":   {func(c *dit.Config) { c.TextDim = 2 * c.TextDim }, "text width 128, not 64"},
		"layers":       {func(c *dit.Config) { c.Layers = 3 }, "3 layers, not 2"},
	} {
		m := tiny
		m.Low = writeExpert(t, dir, strings.ReplaceAll(name, " ", "-")+".gguf", 11, c.mod)
		_, err := Open(context.Background(), m, Options{Device: "cpu"})
		var me *ModelError
		require.ErrorAs(t, err, &me, name)
		require.Equal(t, m.Low, me.Path, name)
		require.ErrorContains(t, err, "has another shape than the high-noise expert: "+c.want, name)
	}

	// Both experts output 8 channels: they agree, but the VAE's latent has 16.
	m := tiny
	eight := func(c *dit.Config) { c.OutDim = 8 }
	m.High = writeExpert(t, dir, "high8.gguf", 12, eight)
	m.Low = writeExpert(t, dir, "low8.gguf", 13, eight)
	_, err := Open(context.Background(), m, Options{Device: "cpu"})
	var me *ModelError
	require.ErrorAs(t, err, &me)
	require.Equal(t, m.High, me.Path)
	require.ErrorContains(t, err, "outputs 8 latent channels (as does the low-noise expert) but the VAE "+m.VAE+" has 16 (its z_dim)")
}
