package synthrand

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestSameKindDiffers checks that tensors sharing a tile get different
// bytes (their own offsets), that values follow the distribution, and that
// the sizes are exact, in both formats.
func TestSameKindDiffers(t *testing.T) {
	d := Dist{Mean: 1, Std: 0.5}
	ts := []Tensor{
		{Name: "a", Type: gguf.TypeF32, Shape: []int64{300, 64}, Dist: d},
		{Name: "b", Type: gguf.TypeF32, Shape: []int64{300, 64}, Dist: d},
		{Name: "c", Type: gguf.TypeF32, Shape: []int64{7}, Dist: Dist{Std: 2}},
	}
	dir := t.TempDir()
	check := func(path string, want int64, src gguf.Source) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil || st.Size() != want {
			t.Errorf("%s: size %v (%v), computed %d", path, st, err, want)
		}
		a, _, errA := gguf.ReadFloat32(src, "a")
		b, _, errB := gguf.ReadFloat32(src, "b")
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if slices.Equal(a, b) {
			t.Errorf("%s: tensors a and b are equal", path)
		}
		var s, ss float64
		for _, v := range a {
			s, ss = s+float64(v), ss+float64(v)*float64(v)
		}
		m := s / float64(len(a))
		if sd := math.Sqrt(ss/float64(len(a)) - m*m); math.Abs(m-1) > 0.05 || math.Abs(sd-0.5) > 0.05 {
			t.Errorf("%s: mean %.3f std %.3f, want 1 and 0.5", path, m, sd)
		}
	}

	gpath := filepath.Join(dir, "m.gguf")
	meta := func(w *gguf.Writer) { w.SetKV("general.name", "test") }
	if err := WriteGGUF(gpath, meta, ts, 1); err != nil {
		t.Fatal(err)
	}
	size, err := GGUFSize(meta, ts)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	check(gpath, size, g)

	spath := filepath.Join(dir, "m.safetensors")
	if err := WriteSafetensors(spath, ts, map[string]string{"k": "v"}, 1); err != nil {
		t.Fatal(err)
	}
	if size, err = SafetensorsSize(ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	s, err := safetensors.Open(spath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(spath, size, s)

	if err := WriteSafetensors(filepath.Join(dir, "q.safetensors"), []Tensor{{Name: "q", Type: gguf.TypeQ8_0, Shape: []int64{32}}}, nil, 1); err == nil {
		t.Error("a quantized safetensors tensor was accepted")
	}
}

func TestPrevPrime(t *testing.T) {
	for n, want := range map[int64]int64{1: 1, 2: 2, 3: 3, 4: 3, 10: 7, 32768: 32749, 4096: 4093} {
		if got := prevPrime(n); got != want {
			t.Errorf("prevPrime(%d) = %d, want %d", n, got, want)
		}
	}
}
