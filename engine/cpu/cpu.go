// Package cpu is the float32 reference backend: every engine op in plain Go,
// parallel over rows with goroutines. It defines what the CUDA backend must
// reproduce and runs the tiny models in CI and the demo.
//
// Weights keep their file bytes and ggml type; they are dequantized on use
// (Linear dequantizes the weight for the call, Rows only the rows asked for),
// so a quantized model is never expanded in memory for longer than one op.
package cpu

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Tensor is a CPU tensor: float32 activations, or a weight's raw bytes.
type Tensor struct {
	shape []int
	data  []float32 // activations (nil for a weight)
	raw   []byte    // weight bytes in ggml type wtype
	wtype gguf.Type
}

func (t *Tensor) Shape() []int         { return t.shape }
func (t *Tensor) DType() engine.DType  { return engine.F32 }
func (t *Tensor) GGMLType() gguf.Type  { return t.wtype }
func (t *Tensor) isWeight() bool       { return t.raw != nil }
func (t *Tensor) rowsCols() (int, int) { return rowsCols(t.shape) }

// Data returns the float32 elements of an activation tensor (not a copy).
func (t *Tensor) Data() []float32 { return t.data }

func rowsCols(shape []int) (int, int) {
	if len(shape) == 0 {
		return 1, 1
	}
	d := shape[len(shape)-1]
	if d == 0 {
		return 0, 0
	}
	return engine.Numel(shape) / d, d
}

// Backend is the CPU reference backend. The zero value is not usable; call New.
type Backend struct {
	workers int
	stop    func() error // consulted between blocks of the long kernels; nil: never stop (see WithStop)
}

// New returns a CPU backend using all CPUs.
func New() *Backend { return &Backend{workers: runtime.GOMAXPROCS(0)} }

func (b *Backend) Name() string { return "cpu" }

func newTensor(shape []int) *Tensor {
	return &Tensor{shape: slices.Clone(shape), data: make([]float32, engine.Numel(shape)), wtype: gguf.TypeF32}
}

func (b *Backend) t(x engine.Tensor, op string) *Tensor {
	t, ok := x.(*Tensor)
	if !ok || t == nil {
		engine.Failf(op, "not a CPU tensor (%T)", x)
	}
	return t
}

// f32 returns the elements of t as float32, dequantizing a weight.
func (b *Backend) f32(t *Tensor, op string) []float32 {
	if !t.isWeight() {
		return t.data
	}
	out := make([]float32, engine.Numel(t.shape))
	if err := gguf.Dequantize(t.wtype, t.raw, out); err != nil {
		engine.Failf(op, "dequantizing %s weight %v: %v", t.wtype, t.shape, err)
	}
	return out
}

func (b *Backend) FromHost(data []float32, shape ...int) engine.Tensor {
	if engine.Numel(shape) != len(data) {
		engine.Failf("FromHost", "%d values do not fill shape %v", len(data), shape)
	}
	return &Tensor{shape: slices.Clone(shape), data: slices.Clone(data), wtype: gguf.TypeF32}
}

func (b *Backend) ToHost(x engine.Tensor) []float32 {
	t := b.t(x, "ToHost")
	return slices.Clone(b.f32(t, "ToHost"))
}

func (b *Backend) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	shape := make([]int, len(info.Shape))
	for i, d := range info.Shape {
		shape[i] = int(d)
	}
	n := int64(engine.Numel(shape))
	size, err := info.Type.RowBytes(n)
	if err != nil {
		engine.Failf("Weight", "tensor %q: %v", info.Name, err)
	}
	if size != int64(len(data)) {
		engine.Failf("Weight", "tensor %q: %d bytes for %d %s elements, want %d", info.Name, len(data), n, info.Type, size)
	}
	if info.Type == gguf.TypeF32 {
		t := newTensor(shape)
		if err := gguf.Dequantize(gguf.TypeF32, data, t.data); err != nil {
			engine.Failf("Weight", "tensor %q: %v", info.Name, err)
		}
		return t
	}
	return &Tensor{shape: shape, raw: slices.Clone(data), wtype: info.Type}
}

func (b *Backend) Free(ts ...engine.Tensor) {
	for _, x := range ts {
		if t, ok := x.(*Tensor); ok && t != nil {
			t.data, t.raw = nil, nil
		}
	}
}

func (b *Backend) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	t := b.t(x, "Reshape")
	if engine.Numel(shape) != engine.Numel(t.shape) {
		engine.Failf("Reshape", "cannot view %v as %v", t.shape, shape)
	}
	return &Tensor{shape: slices.Clone(shape), data: t.data, raw: t.raw, wtype: t.wtype}
}

func (b *Backend) Cast(x engine.Tensor, d engine.DType) engine.Tensor {
	t := b.t(x, "Cast")
	// The reference keeps float32 for every dtype.
	return &Tensor{shape: slices.Clone(t.shape), data: slices.Clone(b.f32(t, "Cast")), wtype: gguf.TypeF32}
}

// parallel runs f over [0, n) split into contiguous chunks, one per worker.
func (b *Backend) parallel(n int, f func(lo, hi int)) {
	w := b.workers
	if w > n {
		w = n
	}
	if w <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func (b *Backend) Linear(xx, ww, bb engine.Tensor) engine.Tensor {
	x, w := b.t(xx, "Linear"), b.t(ww, "Linear")
	M, K := x.rowsCols()
	if len(w.shape) != 2 || w.shape[1] != K {
		engine.Failf("Linear", "x %v does not match weight %v", x.shape, w.shape)
	}
	N := w.shape[0]
	wd := b.f32(w, "Linear")
	var bias []float32
	if bb != nil {
		bt := b.t(bb, "Linear")
		bias = b.f32(bt, "Linear")
		if len(bias) != N {
			engine.Failf("Linear", "bias %v does not match weight %v", bt.shape, w.shape)
		}
	}
	outShape := append(slices.Clone(x.shape[:len(x.shape)-1]), N)
	y := newTensor(outShape)
	xd := b.f32(x, "Linear")
	b.parallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			xr := xd[m*K : (m+1)*K]
			yr := y.data[m*N : (m+1)*N]
			for n := range N {
				s := dot(xr, wd[n*K:(n+1)*K])
				if bias != nil {
					s += bias[n]
				}
				yr[n] = s
			}
		}
	})
	return y
}

// rowVec returns an optional per-column vector of length D (nil stays nil).
func (b *Backend) rowVec(v engine.Tensor, D int, op, what string) []float32 {
	if v == nil {
		return nil
	}
	t := b.t(v, op)
	d := b.f32(t, op)
	if len(d) != D {
		engine.Failf(op, "%s %v does not broadcast over rows of width %d", what, t.shape, D)
	}
	return d
}

func (b *Backend) LayerNorm(xx, ww, bb engine.Tensor, eps float32) engine.Tensor {
	x := b.t(xx, "LayerNorm")
	M, D := x.rowsCols()
	w := b.rowVec(ww, D, "LayerNorm", "weight")
	bias := b.rowVec(bb, D, "LayerNorm", "bias")
	y := newTensor(x.shape)
	b.parallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			xr, yr := x.data[m*D:(m+1)*D], y.data[m*D:(m+1)*D]
			var mean float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(D)
			var vs float64
			for _, v := range xr {
				d := float64(v) - mean
				vs += d * d
			}
			inv := 1 / math.Sqrt(vs/float64(D)+float64(eps))
			for i, v := range xr {
				o := float32((float64(v) - mean) * inv)
				if w != nil {
					o *= w[i]
				}
				if bias != nil {
					o += bias[i]
				}
				yr[i] = o
			}
		}
	})
	return y
}

func (b *Backend) RMSNorm(xx, ww engine.Tensor, eps float32) engine.Tensor {
	x := b.t(xx, "RMSNorm")
	M, D := x.rowsCols()
	w := b.rowVec(ww, D, "RMSNorm", "weight")
	y := newTensor(x.shape)
	b.parallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			xr, yr := x.data[m*D:(m+1)*D], y.data[m*D:(m+1)*D]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			inv := float32(1 / math.Sqrt(ss/float64(D)+float64(eps)))
			for i, v := range xr {
				o := v * inv
				if w != nil {
					o *= w[i]
				}
				yr[i] = o
			}
		}
	})
	return y
}

func (b *Backend) Modulate(xx, shift, scale engine.Tensor) engine.Tensor {
	x := b.t(xx, "Modulate")
	M, D := x.rowsCols()
	sh := b.rowVec(shift, D, "Modulate", "shift")
	sc := b.rowVec(scale, D, "Modulate", "scale")
	y := newTensor(x.shape)
	b.parallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			xr, yr := x.data[m*D:(m+1)*D], y.data[m*D:(m+1)*D]
			for i, v := range xr {
				yr[i] = v*(1+sc[i]) + sh[i]
			}
		}
	})
	return y
}

func (b *Backend) AddGated(xx, yy, gate engine.Tensor) {
	x, y := b.t(xx, "AddGated"), b.t(yy, "AddGated")
	if x.isWeight() || !slices.Equal(x.shape, y.shape) {
		engine.Failf("AddGated", "x %v and y %v differ (or x is a weight)", x.shape, y.shape)
	}
	M, D := x.rowsCols()
	g := b.rowVec(gate, D, "AddGated", "gate")
	yd := b.f32(y, "AddGated")
	b.parallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			xr, yr := x.data[m*D:(m+1)*D], yd[m*D:(m+1)*D]
			if g == nil {
				for i := range xr {
					xr[i] += yr[i]
				}
				continue
			}
			for i := range xr {
				xr[i] += yr[i] * g[i]
			}
		}
	})
}

func (b *Backend) binary(op string, aa, bb engine.Tensor, f func(x, y float32) float32) engine.Tensor {
	a, bt := b.t(aa, op), b.t(bb, op)
	ad, bd := b.f32(a, op), b.f32(bt, op)
	y := newTensor(a.shape)
	switch {
	case slices.Equal(a.shape, bt.shape):
		for i := range ad {
			y.data[i] = f(ad[i], bd[i])
		}
	default:
		M, D := a.rowsCols()
		if len(bd) != D {
			engine.Failf(op, "shapes %v and %v do not broadcast", a.shape, bt.shape)
		}
		for m := range M {
			for i := range D {
				y.data[m*D+i] = f(ad[m*D+i], bd[i])
			}
		}
	}
	return y
}

func (b *Backend) Add(x, y engine.Tensor) engine.Tensor {
	return b.binary("Add", x, y, func(p, q float32) float32 { return p + q })
}

func (b *Backend) Mul(x, y engine.Tensor) engine.Tensor {
	return b.binary("Mul", x, y, func(p, q float32) float32 { return p * q })
}

func (b *Backend) unary(op string, xx engine.Tensor, f func(float32) float32) engine.Tensor {
	x := b.t(xx, op)
	xd := b.f32(x, op)
	y := newTensor(x.shape)
	b.parallel(len(xd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.data[i] = f(xd[i])
		}
	})
	return y
}

// GELUTanh is GELU with the tanh approximation, in float64.
func GELUTanh(v float32) float32 {
	x := float64(v)
	return float32(0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))))
}

// SiLU is x·sigmoid(x), in float64.
func SiLU(v float32) float32 {
	x := float64(v)
	return float32(x / (1 + math.Exp(-x)))
}

func (b *Backend) GELU(x engine.Tensor) engine.Tensor { return b.unary("GELU", x, GELUTanh) }
func (b *Backend) SiLU(x engine.Tensor) engine.Tensor { return b.unary("SiLU", x, SiLU) }

func (b *Backend) Rows(tt engine.Tensor, ids []int32) engine.Tensor {
	t := b.t(tt, "Rows")
	if len(t.shape) != 2 {
		engine.Failf("Rows", "table must be 2-D, got %v", t.shape)
	}
	V, D := t.shape[0], t.shape[1]
	y := newTensor([]int{len(ids), D})
	var rowBytes int64
	if t.isWeight() {
		var err error
		if rowBytes, err = t.wtype.RowBytes(int64(D)); err != nil {
			engine.Failf("Rows", "%v", err)
		}
	}
	for i, id := range ids {
		if id < 0 || int(id) >= V {
			engine.Failf("Rows", "id %d out of range [0, %d)", id, V)
		}
		dst := y.data[i*D : (i+1)*D]
		if !t.isWeight() {
			copy(dst, t.data[int(id)*D:(int(id)+1)*D])
			continue
		}
		src := t.raw[int64(id)*rowBytes : (int64(id)+1)*rowBytes]
		if err := gguf.Dequantize(t.wtype, src, dst); err != nil {
			engine.Failf("Rows", "%v", err)
		}
	}
	return y
}

func (b *Backend) Slice(tt engine.Tensor, from, to int) engine.Tensor {
	t := b.t(tt, "Slice")
	if len(t.shape) == 0 || from < 0 || to > t.shape[0] || from > to {
		engine.Failf("Slice", "rows [%d, %d) of %v", from, to, t.shape)
	}
	inner := engine.Numel(t.shape[1:])
	shape := slices.Clone(t.shape)
	shape[0] = to - from
	d := b.f32(t, "Slice")
	return &Tensor{shape: shape, data: slices.Clone(d[from*inner : to*inner]), wtype: gguf.TypeF32}
}

func (b *Backend) Concat(ts ...engine.Tensor) engine.Tensor {
	if len(ts) == 0 {
		engine.Failf("Concat", "nothing to concatenate")
	}
	first := b.t(ts[0], "Concat")
	shape := slices.Clone(first.shape)
	shape[0] = 0
	var data []float32
	for _, x := range ts {
		t := b.t(x, "Concat")
		if len(t.shape) != len(shape) || !slices.Equal(t.shape[1:], shape[1:]) {
			engine.Failf("Concat", "shapes %v and %v differ beyond the first dim", first.shape, t.shape)
		}
		shape[0] += t.shape[0]
		data = append(data, b.f32(t, "Concat")...)
	}
	return &Tensor{shape: shape, data: data, wtype: gguf.TypeF32}
}

func (b *Backend) Attention(qq, kk, vv engine.Tensor, o engine.AttentionOpts) engine.Tensor {
	q, k, v := b.t(qq, "Attention"), b.t(kk, "Attention"), b.t(vv, "Attention")
	Lq, HD := q.rowsCols()
	Lk, HDk := k.rowsCols()
	Lv, HDv := v.rowsCols()
	H := o.Heads
	if H <= 0 || HD%H != 0 || HDk != HD || HDv != HD || Lv != Lk {
		engine.Failf("Attention", "q %v k %v v %v with %d heads", q.shape, k.shape, v.shape, H)
	}
	D := HD / H
	keys := Lk
	if o.KeyLen > 0 && o.KeyLen < Lk {
		keys = o.KeyLen
	}
	var bias []float32
	if o.Bias != nil {
		bt := b.t(o.Bias, "Attention")
		if !slices.Equal(bt.shape, []int{H, Lq, Lk}) {
			engine.Failf("Attention", "bias %v, want [%d %d %d]", bt.shape, H, Lq, Lk)
		}
		bias = b.f32(bt, "Attention")
	}
	qd, kd, vd := b.f32(q, "Attention"), b.f32(k, "Attention"), b.f32(v, "Attention")
	// Gather per-head contiguous K and V so the inner loops stream.
	kh := make([]float32, H*keys*D)
	vh := make([]float32, H*keys*D)
	for h := range H {
		for j := range keys {
			copy(kh[(h*keys+j)*D:(h*keys+j+1)*D], kd[j*HD+h*D:j*HD+(h+1)*D])
			copy(vh[(h*keys+j)*D:(h*keys+j+1)*D], vd[j*HD+h*D:j*HD+(h+1)*D])
		}
	}
	y := newTensor(q.shape)
	stop := b.halt()
	b.parallel(H*Lq, func(lo, hi int) {
		s := make([]float32, keys)
		acc := make([]float64, D)
		for r := lo; r < hi; r++ {
			if stop.now() {
				return
			}
			h, i := r/Lq, r%Lq
			qr := qd[i*HD+h*D : i*HD+(h+1)*D]
			mx := float32(math.Inf(-1))
			for j := range keys {
				sc := dot(qr, kh[(h*keys+j)*D:(h*keys+j+1)*D]) * o.Scale
				if bias != nil {
					sc += bias[(h*Lq+i)*Lk+j]
				}
				s[j] = sc
				mx = max(mx, sc)
			}
			clear(acc)
			var sum float64
			for j := range keys {
				p := math.Exp(float64(s[j] - mx))
				sum += p
				vr := vh[(h*keys+j)*D : (h*keys+j+1)*D]
				for d := range D {
					acc[d] += p * float64(vr[d])
				}
			}
			out := y.data[i*HD+h*D : i*HD+(h+1)*D]
			for d := range D {
				out[d] = float32(acc[d] / sum)
			}
		}
	})
	stop.check("Attention")
	return y
}

func (b *Backend) RotatePairs(xx, cc, ss engine.Tensor, heads int) {
	x, c, s := b.t(xx, "RotatePairs"), b.t(cc, "RotatePairs"), b.t(ss, "RotatePairs")
	L, HD := x.rowsCols()
	if heads <= 0 || HD%heads != 0 || (HD/heads)%2 != 0 {
		engine.Failf("RotatePairs", "x %v with %d heads", x.shape, heads)
	}
	P := HD / heads / 2
	if !slices.Equal(c.shape, []int{L, P}) || !slices.Equal(s.shape, []int{L, P}) {
		engine.Failf("RotatePairs", "cos %v sin %v, want [%d %d]", c.shape, s.shape, L, P)
	}
	b.parallel(L, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			for h := range heads {
				row := x.data[l*HD+h*2*P : l*HD+(h+1)*2*P]
				for m := range P {
					cs, sn := c.data[l*P+m], s.data[l*P+m]
					a, bb := row[2*m], row[2*m+1]
					row[2*m] = a*cs - bb*sn
					row[2*m+1] = a*sn + bb*cs
				}
			}
		}
	})
}

var _ engine.Backend = (*Backend)(nil)
