package dit

import (
	"fmt"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

// goldenTol is the CPU reference tolerance of ../shared/golden/README.md.
const goldenTol = 1e-4

// goldenCase is one input set of dit_tiny_cases.safetensors.
type goldenCase struct {
	name    string
	x, y    []float32
	grid    Grid
	t       float64
	context []float32
	ctxLen  int
	src     gguf.Source
}

func (c goldenCase) read(t *testing.T, what string) []float32 {
	t.Helper()
	v, _, err := gguf.ReadFloat32(c.src, c.name+"."+what)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "dit_tiny_cases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var cases []goldenCase
	for k := range 2 {
		c := goldenCase{name: fmt.Sprintf("case%d", k), src: f}
		c.x = c.read(t, "x")
		xi, _ := f.Lookup(c.name + ".x")
		c.grid = Grid{T: int(xi.Shape[1]), H: int(xi.Shape[2]), W: int(xi.Shape[3])}
		c.y = c.read(t, "y")
		c.t = float64(c.read(t, "t")[0])
		c.context = c.read(t, "context")
		ci, _ := f.Lookup(c.name + ".context")
		c.ctxLen = int(ci.Shape[0])
		cases = append(cases, c)
	}
	return cases
}

func loadGolden(t *testing.T, b engine.Backend, file string) *Model {
	t.Helper()
	src, err := gguf.Open(golden.Path(t, file))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m, err := Load(b, src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 2, Heads: 2}
	if m.Config != want {
		t.Fatalf("config %+v, want %+v", m.Config, want)
	}
	return m
}

// run embeds the case's context and runs Forward, collecting every traced
// intermediate as host data.
func (c goldenCase) run(t *testing.T, m *Model) (out []float32, traced map[string][]float32) {
	t.Helper()
	text, err := m.EmbedText(c.context, c.ctxLen)
	if err != nil {
		t.Fatal(err)
	}
	defer text.Free()
	traced = map[string][]float32{}
	trace := func(name string, x engine.Tensor) { traced[name] = m.b.ToHost(x) }
	out, err = m.Forward(c.x, c.y, c.grid, c.t, text, trace)
	if err != nil {
		t.Fatal(err)
	}
	L, d := c.grid.Tokens(), m.Config.Dim
	for name, size := range map[string]int{"patch_embedding": L * d, "block1.self_attn": L * d, "block1.cross_attn": L * d, "head": L * m.Config.OutDim * 4} {
		if len(traced[name]) != size {
			t.Errorf("trace %q has %d values, want %d", name, len(traced[name]), size)
		}
	}
	return out, traced
}

func checkClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	e := golden.RelL2(got, want)
	t.Logf("%-28s rel L2 error %.3g", what, e)
	if !(e <= goldenTol) {
		t.Errorf("%s: relative L2 error %.3g > %g", what, e, goldenTol)
	}
}

// TestGolden runs both cases on both golden files: the output of each, and
// the intermediates the reference recorded for the F32 weights.
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	for _, file := range []struct {
		name, out     string
		intermediates []string
	}{
		{"dit_tiny_f32.gguf", "out", []string{"time_embedding", "time_projection", "context_embedding", "block0.out", "block1.out"}},
		{"dit_tiny_q8_0.gguf", "out_q8_0", nil},
	} {
		t.Run(file.name, func(t *testing.T) {
			m := loadGolden(t, cpu.New(), file.name)
			defer m.Free()
			for _, c := range cases {
				out, traced := c.run(t, m)
				for _, name := range file.intermediates {
					checkClose(t, c.name+"."+name, traced[name], c.read(t, name))
				}
				checkClose(t, c.name+"."+file.out, out, c.read(t, file.out))
			}
		})
	}
}

// rowAdder is the CPU backend with the GatedRowAdder fast path.
type rowAdder struct {
	*cpu.Backend
	calls int
}

func (r *rowAdder) AddGatedRows(x, y, gate engine.Tensor, from int) {
	xd, yd, g := x.(*cpu.Tensor).Data(), y.(*cpu.Tensor).Data(), gate.(*cpu.Tensor).Data()
	D := len(g)
	dst := xd[from*D : from*D+len(yd)]
	for i := range dst {
		dst[i] += yd[i] * g[i%D]
	}
	r.calls++
}

// The chunked FFN (with and without the row-add fast path) gives the
// unchunked result: chunks of 5 rows split case0's 72 tokens unevenly.
func TestGoldenFFNChunks(t *testing.T) {
	cases := goldenCases(t)
	for _, tc := range []struct {
		name string
		b    engine.Backend
	}{{"concat", cpu.New()}, {"rowadder", &rowAdder{Backend: cpu.New()}}} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadGolden(t, tc.b, "dit_tiny_f32.gguf")
			defer m.Free()
			m.FFNChunk = 5
			out, _ := cases[0].run(t, m)
			checkClose(t, "case0.out", out, cases[0].read(t, "out"))
			if ra, ok := tc.b.(*rowAdder); ok && ra.calls != 2*15 {
				t.Errorf("AddGatedRows called %d times, want 30 (2 blocks × 15 chunks)", ra.calls)
			}
		})
	}
}
