package dit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// TestSyntheticSize: the size equals the written file's, byte for byte,
// for block types with and without the F16 fallback, and for any seed.
func TestSyntheticSize(t *testing.T) {
	dir := t.TempDir()
	odd := smallConfig
	odd.FFNDim = 300 // rows of 300 are no whole number of Q4_K blocks: F16 fallback
	for i, c := range []struct {
		cfg  Config
		typ  gguf.Type
		seed int64
	}{
		{smallConfig, gguf.TypeQ8_0, 1},
		{smallConfig, gguf.TypeBF16, 12345678901},
		{odd, gguf.TypeQ4_K, 3},
		{tinyConfig, gguf.TypeF32, 9},
	} {
		path := filepath.Join(dir, "m.gguf")
		if err := WriteSynthetic(path, c.cfg, c.typ, c.seed); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := SyntheticSize(c.cfg, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if n != st.Size() {
			t.Errorf("case %d (%v, %v): SyntheticSize %d, file %d bytes", i, c.cfg, c.typ, n, st.Size())
		}
	}
	// The A14B expert in Q8_0 is about 15.4 GB.
	if n, err := SyntheticSize(I2VA14B(), gguf.TypeQ8_0); err != nil || n < 15.3e9 || n > 15.5e9 {
		t.Errorf("A14B Q8_0: %d bytes (%v), want about 15.4 GB", n, err)
	}
	bad := smallConfig
	bad.Heads = 3
	if _, err := SyntheticSize(bad, gguf.TypeQ8_0); err == nil {
		t.Error("a config WriteSynthetic refuses has a size")
	}
	if _, err := SyntheticSize(smallConfig, gguf.Type(999)); err == nil {
		t.Error("an unknown type has a size")
	}
}
