package scheduler

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

// Tolerances of ../shared/golden/README.md for the schedulers.
const (
	goldenSigmaTol  = 1e-7 // absolute, per sigma
	goldenSampleTol = 1e-5 // relative L2, per step's sample
)

// goldenSolverCase is one case of scheduler_cases.safetensors.
type goldenSolverCase struct {
	prefix string
	kind   Kind
	steps  int
	shift  float64
	sigmas string // the tensor holding the reference sigmas
	nSigma int    // how many of them (DPM++ stores the N sigmas it was fed)
}

var goldenSolverCases = []goldenSolverCase{
	{"unipc40", UniPC, 40, 5, "unipc40.sigmas", 41},
	{"unipc20", UniPC, 20, 3, "unipc20.sigmas", 21},
	{"unipc8", UniPC, 8, 5, "unipc8.sigmas", 9},
	{"dpmpp40", DPMPP, 40, 5, "sampling_sigmas_40_5.0", 40},
	{"dpmpp20", DPMPP, 20, 3, "sampling_sigmas_20_3.0", 20},
}

// readGolden reads a float32 tensor and checks its shape.
func readGolden(t *testing.T, src gguf.Source, name string, shape ...int64) []float32 {
	t.Helper()
	data, ti, err := gguf.ReadFloat32(src, name)
	require.NoError(t, err)
	require.Equal(t, shape, ti.Shape, "shape of %s", name)
	return data
}

func TestGoldenSolvers(t *testing.T) {
	f, err := safetensors.Open(golden.Path(t, "scheduler_cases.safetensors"))
	require.NoError(t, err)
	defer f.Close()

	for _, gc := range goldenSolverCases {
		t.Run(gc.prefix, func(t *testing.T) {
			s, err := New(string(gc.kind), gc.steps, gc.shift)
			require.NoError(t, err)
			n := int64(gc.steps)
			sample := []int64{2, 3, 4, 5}
			size := 2 * 3 * 4 * 5

			// Timesteps: exact.
			refT := readGolden(t, f, gc.prefix+".timesteps", n)
			for i, ts := range s.Timesteps() {
				require.Equal(t, int64(refT[i]), ts, "timestep %d", i)
				require.Equal(t, float32(ts), refT[i], "timestep %d is not an integer in the reference", i)
			}

			// Sigmas.
			refS := readGolden(t, f, gc.sigmas, int64(gc.nSigma))
			sig := s.Sigmas()
			require.Len(t, sig, gc.steps+1)
			require.Zero(t, sig[gc.steps])
			var maxSig float64
			for i, r := range refS {
				maxSig = math.Max(maxSig, math.Abs(float64(sig[i])-float64(r)))
			}
			require.LessOrEqual(t, maxSig, goldenSigmaTol, "max sigma error")

			// Every step's sample.
			x := readGolden(t, f, gc.prefix+".x0", sample...)
			outs := readGolden(t, f, gc.prefix+".model_outputs", append([]int64{n}, sample...)...)
			want := readGolden(t, f, gc.prefix+".samples", append([]int64{n}, sample...)...)
			var worst float64
			worstAt := -1
			before := make([]float32, size)
			for i := range gc.steps {
				copy(before, x)
				require.NoError(t, s.Step(outs[i*size:(i+1)*size], i, x))
				e := golden.RelL2(x, want[i*size:(i+1)*size])
				require.LessOrEqual(t, e, goldenSampleTol, "step %d: relative L2 error", i)
				if e > worst {
					worst, worstAt = e, i
				}
			}
			t.Logf("%s: max sigma error %.2g, max sample error %.2g (step %d)", gc.prefix, maxSig, worst, worstAt)

			// The final latent is the last x0-prediction x − σ·v, exactly.
			last := gc.steps - 1
			v := outs[last*size:]
			for j := range x {
				require.Equal(t, before[j]-float32(sig[last]*v[j]), x[j], "final latent [%d]", j)
			}
		})
	}
}
