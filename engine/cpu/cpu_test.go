package cpu

import (
	"github.com/wan22/wan22/internal/golden"

	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestLinearMatchesNaive(t *testing.T) {
	b := New()
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ M, K, N int }{{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 128, 31}} {
		x, w, bias := randVec(r, s.M*s.K), randVec(r, s.N*s.K), randVec(r, s.N)
		wt := b.Weight(gguf.TensorInfo{Name: "w", Type: gguf.TypeF32, Shape: []int64{int64(s.N), int64(s.K)}}, f32Bytes(w))
		bt := b.FromHost(bias, s.N)
		y := b.ToHost(b.Linear(b.FromHost(x, s.M, s.K), wt, bt))
		want := make([]float32, s.M*s.N)
		for m := range s.M {
			for n := range s.N {
				var acc float64
				for k := range s.K {
					acc += float64(x[m*s.K+k]) * float64(w[n*s.K+k])
				}
				want[m*s.N+n] = float32(acc) + bias[n]
			}
		}
		require.Less(t, golden.RelL2(y, want), 1e-6, "shape %+v", s)
	}
}

func f32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}

func TestLinearQuantizedWeightDequantizesOnUse(t *testing.T) {
	b := New()
	r := rand.New(rand.NewPCG(3, 4))
	const M, K, N = 5, 64, 6
	w := randVec(r, N*K)
	q, err := gguf.Quantize(gguf.TypeQ8_0, w)
	require.NoError(t, err)
	deq := make([]float32, N*K)
	require.NoError(t, gguf.Dequantize(gguf.TypeQ8_0, q, deq))
	x := randVec(r, M*K)
	wq := b.Weight(gguf.TensorInfo{Name: "wq", Type: gguf.TypeQ8_0, Shape: []int64{N, K}}, q)
	wf := b.Weight(gguf.TensorInfo{Name: "wf", Type: gguf.TypeF32, Shape: []int64{N, K}}, f32Bytes(deq))
	require.Equal(t, gguf.TypeQ8_0, engine.WeightType(wq))
	got := b.ToHost(b.Linear(b.FromHost(x, M, K), wq, nil))
	want := b.ToHost(b.Linear(b.FromHost(x, M, K), wf, nil))
	require.Equal(t, want, got)
	// Rows of a quantized table dequantize just those rows.
	rows := b.ToHost(b.Rows(wq, []int32{4, 0}))
	require.Equal(t, deq[4*K:5*K], rows[:K])
	require.Equal(t, deq[:K], rows[K:])
}

func TestNormsAndElementwise(t *testing.T) {
	b := New()
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ M, D int }{{1, 1}, {3, 7}, {9, 256}} {
		x, w, bias := randVec(r, s.M*s.D), randVec(r, s.D), randVec(r, s.D)
		xt, wt, bt := b.FromHost(x, s.M, s.D), b.FromHost(w, s.D), b.FromHost(bias, s.D)
		ln := b.ToHost(b.LayerNorm(xt, wt, bt, 1e-6))
		rms := b.ToHost(b.RMSNorm(xt, wt, 1e-6))
		mod := b.ToHost(b.Modulate(xt, bt, wt))
		for m := range s.M {
			row := x[m*s.D : (m+1)*s.D]
			var mean, ss float64
			for _, v := range row {
				mean += float64(v)
				ss += float64(v) * float64(v)
			}
			mean /= float64(s.D)
			var vs float64
			for _, v := range row {
				vs += (float64(v) - mean) * (float64(v) - mean)
			}
			for i, v := range row {
				wantLN := (float64(v)-mean)/math.Sqrt(vs/float64(s.D)+1e-6)*float64(w[i]) + float64(bias[i])
				require.InDelta(t, wantLN, ln[m*s.D+i], 1e-4)
				wantRMS := float64(v) / math.Sqrt(ss/float64(s.D)+1e-6) * float64(w[i])
				require.InDelta(t, wantRMS, rms[m*s.D+i], 1e-4)
				require.InDelta(t, float64(v)*(1+float64(w[i]))+float64(bias[i]), mod[m*s.D+i], 1e-5)
			}
		}
		y := randVec(r, s.M*s.D)
		x2 := b.FromHost(x, s.M, s.D)
		b.AddGated(x2, b.FromHost(y, s.M, s.D), wt)
		got := b.ToHost(x2)
		for i := range x {
			require.InDelta(t, x[i]+y[i]*w[i%s.D], got[i], 1e-6)
		}
	}
	require.InDelta(t, 0.8411920, GELUTanh(1), 1e-6)
	require.InDelta(t, 0.7310586, SiLU(1), 1e-6)
}

func TestAttentionMaskAndBias(t *testing.T) {
	b := New()
	r := rand.New(rand.NewPCG(7, 8))
	const H, D, Lq, Lk = 2, 4, 3, 5
	q, k, v := randVec(r, Lq*H*D), randVec(r, Lk*H*D), randVec(r, Lk*H*D)
	bias := randVec(r, H*Lq*Lk)
	o := engine.AttentionOpts{Heads: H, Scale: 0.5, KeyLen: 4, Bias: b.FromHost(bias, H, Lq, Lk)}
	got := b.ToHost(b.Attention(b.FromHost(q, Lq, H*D), b.FromHost(k, Lk, H*D), b.FromHost(v, Lk, H*D), o))
	for h := range H {
		for i := range Lq {
			var s [4]float64
			var mx, sum float64 = math.Inf(-1), 0
			for j := range 4 {
				for d := range D {
					s[j] += float64(q[i*H*D+h*D+d]) * float64(k[j*H*D+h*D+d])
				}
				s[j] = s[j]*0.5 + float64(bias[(h*Lq+i)*Lk+j])
				mx = math.Max(mx, s[j])
			}
			for j := range 4 {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for d := range D {
				var want float64
				for j := range 4 {
					want += s[j] / sum * float64(v[j*H*D+h*D+d])
				}
				require.InDelta(t, want, got[i*H*D+h*D+d], 1e-5)
			}
		}
	}
}

func TestRotatePairsAndShapes(t *testing.T) {
	b := New()
	x := b.FromHost([]float32{1, 0, 0, 1, 2, 3, 4, 5}, 1, 8) // 2 heads of 4 → 2 pairs each
	c := b.FromHost([]float32{0, 1}, 1, 2)
	s := b.FromHost([]float32{1, 0}, 1, 2)
	b.RotatePairs(x, c, s, 2)
	require.Equal(t, []float32{0, 1, 0, 1, -3, 2, 4, 5}, b.ToHost(x))

	cat := b.Concat(b.FromHost([]float32{1, 2}, 1, 2), b.FromHost([]float32{3, 4, 5, 6}, 2, 2))
	require.Equal(t, []int{3, 2}, cat.Shape())
	require.Equal(t, []float32{3, 4}, b.ToHost(b.Slice(cat, 1, 2)))
	require.Equal(t, []int{2, 3}, b.Reshape(cat, 2, 3).Shape())
}

func TestOpErrorsAreCaught(t *testing.T) {
	b := New()
	run := func() (err error) {
		defer engine.Catch(&err)
		b.Linear(b.FromHost(make([]float32, 6), 2, 3), b.FromHost(make([]float32, 8), 2, 4), nil)
		return nil
	}
	err := run()
	var e *engine.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "Linear", e.Op)
	require.Error(t, func() (err error) {
		defer engine.Catch(&err)
		b.Rows(b.FromHost(make([]float32, 4), 2, 2), []int32{2})
		return nil
	}())
}
