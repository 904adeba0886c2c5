//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// launchBackend launches a kernel of kernels/backend.cu over items work items (elements, or groups of 8
// elements with vec) on the compute stream. Runs on the CUDA goroutine.
func (b *Backend) launchBackend(name string, items int64, args ...any) error {
	if items <= 0 {
		return nil
	}
	k, err := b.d.getKernel("backend", name)
	if err != nil {
		return err
	}
	return b.d.launch(nil, k, dim3{gridFor(items, 256, b.d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0, args...)
}

// vecFlag is the kernels' vec argument: 8-element accesses when width is a multiple of 8 and every pointer
// is 16-byte aligned.
func vecFlag(width int, ms ...Mem) int32 {
	if width%8 == 0 && aligned16(ms...) {
		return 1
	}
	return 0
}

// items is the number of work items of an elementwise kernel over n elements.
func items(n int64, vec int32) int64 {
	if vec == 1 {
		return n / 8
	}
	return n
}

// Linear: x [..., K] · wᵀ + bias → [..., N], bf16 operands, f32 accumulation. The result is BF16, or F32
// for a single-row F32 x (see Backend); with PrecisionF32 it is F32 at about f32 accuracy.
func (b *Backend) Linear(xx, ww, bb engine.Tensor) engine.Tensor {
	return b.linear("Linear", xx, ww, bb, false, nil)
}

// linear is Linear, followed by GELU (tanh) with gelu (LinearGELU, backend_fused.go), with lr's low-rank
// product added before the bias and GELU when lr is not nil (LinearLoRA, backend_lora.go: the caller has
// checked loraFusable).
func (b *Backend) linear(op string, xx, ww, bb engine.Tensor, gelu bool, lr *loraOperands) engine.Tensor {
	var y *Tensor
	b.run(op, func() error {
		var ts temps
		defer ts.release(b.pool)
		x, err := b.lookup(xx)
		if err == nil && x.st.pending == nil {
			err = b.readable(x.st)
		}
		if err != nil {
			return err
		}
		w, err := b.tensor(ww)
		if err != nil {
			return err
		}
		M, K := x.rowsCols()
		if len(x.shape) == 0 || len(w.shape) != 2 || w.shape[1] != K {
			return fmt.Errorf("x %v does not match weight %v", x.shape, w.shape)
		}
		N := w.shape[0]
		out := engine.BF16
		if b.precision == PrecisionF32 || (x.DType() == engine.F32 && M == 1) {
			out = engine.F32
		}
		if lr != nil && out != engine.BF16 {
			return fmt.Errorf("the fused low-rank path makes BF16 only, this call an %v output", out)
		}
		var bias Mem
		if bb != nil {
			bt, err := b.tensor(bb)
			if err != nil {
				return fmt.Errorf("bias: %w", err)
			}
			if bt.numel() != N {
				return fmt.Errorf("bias %v does not match weight %v", bt.shape, w.shape)
			}
			if bias, err = b.as(bt, out, &ts); err != nil {
				return err
			}
		}
		if y, err = b.newAct(append(slices.Clone(x.shape[:len(x.shape)-1]), N), out); err != nil {
			return err
		}
		if M > 0 && N > 0 {
			if b.precision == PrecisionF32 {
				err = b.linearF32(y.mem(), x, w, bias, M, N, K, &ts)
				if err == nil && gelu {
					err = b.d.GELUTanh(nil, y.mem(), y.mem(), ggmlOf(out), int64(M)*int64(N))
				}
			} else if lr != nil {
				err = b.linearLoRA(y.mem(), x, w, bias, lr, M, N, K, gelu, &ts)
			} else {
				err = b.linearBF16(y.mem(), out, x, w, bias, M, N, K, gelu, 0, &ts)
			}
		}
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// linearBF16 is Linear with bf16 operands into y of type out (with gelu, GELU in the GEMM's epilogue; with
// beta ≠ 0, beta·y added to the product before the bias and GELU, see GemmOp.Beta). Runs on the CUDA
// goroutine.
func (b *Backend) linearBF16(y Mem, out engine.DType, x, w *Tensor, bias Mem, M, N, K int, gelu bool, beta float32, ts *temps) error {
	xm, ld, err := b.gemmInputLd(x, ts, 0)
	if err != nil {
		return err
	}
	wt := Weight{Mem: w.mem(), Type: w.st.wtype, N: N, K: K}
	if !w.st.weight {
		if wt.Mem, err = b.as(w, engine.BF16, ts); err != nil {
			return err
		}
		wt.Type = gguf.TypeBF16
	}
	return b.d.Linear(nil, LinearOp{Y: y, YType: ggmlOf(out), X: xm, LdX: ld, W: wt, Bias: bias, BiasType: ggmlOf(out), M: M, GELU: gelu, Beta: beta})
}

// linearF32 is Linear at about f32 accuracy into F32 y: with x = xh + xl and w = wh + wl split into bf16
// parts, y = xh·whᵀ + bias, += xl·whᵀ, += xh·wlᵀ (the last product is dropped when w is bf16, wl = 0; xl·wl
// is below f32 rounding). Runs on the CUDA goroutine.
func (b *Backend) linearF32(y Mem, x, w *Tensor, bias Mem, M, N, K int, ts *temps) error {
	if x.st.pending != nil {
		if err := b.materialize(x.st); err != nil {
			return err
		}
	}
	split := func(t *Tensor, n int64) (hi, lo Mem, err error) {
		f, err := b.as(t, engine.F32, ts)
		if err != nil {
			return
		}
		if hi, err = b.tmp(ts, n*2); err != nil {
			return
		}
		if lo, err = b.tmp(ts, n*2); err != nil {
			return
		}
		err = b.launchBackend("bk_split_f32", n, hi, lo, f, n)
		return
	}
	xh, xl, err := split(x, int64(M)*int64(K))
	if err != nil {
		return err
	}
	var wh, wl Mem
	if w.st.weight && w.st.wtype == gguf.TypeBF16 {
		wh = w.mem()
	} else if wh, wl, err = split(w, int64(N)*int64(K)); err != nil {
		return err
	}
	part, err := b.tmp(ts, int64(M)*int64(N)*4)
	if err != nil {
		return err
	}
	gemm := func(y, x, w, bias Mem) error {
		return b.d.Gemm(nil, GemmOp{Y: y, YType: gguf.TypeF32, X: x, W: w, Bias: bias, BiasType: gguf.TypeF32, M: M, N: N, K: K})
	}
	n := int64(M) * int64(N)
	vec := int32(0)
	if n%8 == 0 && aligned16(y, part) {
		vec = 1
	}
	if err := gemm(y, xh, wh, bias); err != nil {
		return err
	}
	for _, p := range [][2]Mem{{xl, wh}, {xh, wl}} {
		if p[1].IsNil() {
			continue
		}
		if err := gemm(part, p[0], p[1], Mem{}); err != nil {
			return err
		}
		if err := b.launchBackend("bk_add_f32_f32", items(n, vec), y, y, part, n, int32(0), vec); err != nil {
			return err
		}
	}
	return nil
}

// rowOp is the shape of the ops that map x [rows, cols] to a new tensor of x's type (F32 for a weight)
// with optional per-column F32 vectors: y and x memory, x's type, and the vectors in order (nil ones as the
// zero Mem).
type rowOp func(y, x Mem, dt engine.DType, rows, cols int, vecs []Mem) error

// rowwise runs a rowOp: it resolves x and the vectors (named for errors), makes the output, and releases
// it when the launch fails.
func (b *Backend) rowwise(op string, xx engine.Tensor, vecs []engine.Tensor, names []string, f rowOp) engine.Tensor {
	var y *Tensor
	b.run(op, func() error {
		var ts temps
		defer ts.release(b.pool)
		x, err := b.tensor(xx)
		if err != nil {
			return err
		}
		rows, cols := x.rowsCols()
		xm, dt, err := b.input(x, &ts)
		if err != nil {
			return err
		}
		vm := make([]Mem, len(vecs))
		for i, v := range vecs {
			if vm[i], err = b.vector(v, cols, names[i], &ts); err != nil {
				return err
			}
		}
		if y, err = b.newAct(x.shape, dt); err != nil {
			return err
		}
		if rows == 0 || cols == 0 {
			return nil
		}
		if err = f(y.mem(), xm, dt, rows, cols, vm); err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// lazily runs a deferred form of an op (backend_lazy.go); nil means the op runs at once.
func (b *Backend) lazily(op string, f func() (*Tensor, error)) *Tensor {
	var y *Tensor
	b.run(op, func() error {
		var err error
		y, err = f()
		return err
	})
	return y
}

// LayerNorm over the last dim in f32: (x − mean)/sqrt(var + eps)·w + b; the result has x's type.
func (b *Backend) LayerNorm(x, w, bias engine.Tensor, eps float32) engine.Tensor {
	if y := b.lazily("LayerNorm", func() (*Tensor, error) { return b.lazyLayerNorm(x, w, bias, eps) }); y != nil {
		return y
	}
	return b.rowwise("LayerNorm", x, []engine.Tensor{w, bias}, []string{"weight", "bias"},
		func(y, x Mem, dt engine.DType, rows, cols int, v []Mem) error {
			g := ggmlOf(dt)
			return b.d.LayerNorm(nil, y, g, x, g, rows, cols, eps, LayerNormArgs{Weight: v[0], Bias: v[1]})
		})
}

// RMSNorm over the last dim: x·rsqrt(mean(x²) + eps), rounded to x's type, times w (as WanRMSNorm).
func (b *Backend) RMSNorm(x, w engine.Tensor, eps float32) engine.Tensor {
	return b.rowwise("RMSNorm", x, []engine.Tensor{w}, []string{"weight"},
		func(y, x Mem, dt engine.DType, rows, cols int, v []Mem) error {
			g := ggmlOf(dt)
			return b.d.RMSNorm(nil, y, g, x, g, rows, cols, eps, v[0])
		})
}

// Modulate: x·(1 + scale) + shift with shift and scale [D] broadcast over the rows, in f32; x's type.
func (b *Backend) Modulate(x, shift, scale engine.Tensor) engine.Tensor {
	if y := b.lazily("Modulate", func() (*Tensor, error) { return b.lazyModulate(x, shift, scale) }); y != nil {
		return y
	}
	return b.rowwise("Modulate", x, []engine.Tensor{shift, scale}, []string{"shift", "scale"},
		func(y, x Mem, dt engine.DType, rows, cols int, v []Mem) error {
			if v[0].IsNil() || v[1].IsNil() {
				return fmt.Errorf("shift and scale are required")
			}
			vec := vecFlag(cols, y, x, v[0], v[1])
			n := int64(rows) * int64(cols)
			return b.launchBackend("bk_modulate_"+suffix(dt)+"_"+suffix(dt), items(n, vec), y, x, v[0], v[1], int64(rows), int32(cols), vec)
		})
}

// GELU with the tanh approximation, in f32; x's type.
func (b *Backend) GELU(x engine.Tensor) engine.Tensor { return b.unaryOp("GELU", x, b.d.GELUTanh) }

// SiLU: x·sigmoid(x), in f32; x's type.
func (b *Backend) SiLU(x engine.Tensor) engine.Tensor { return b.unaryOp("SiLU", x, b.d.SiLU) }

func (b *Backend) unaryOp(op string, x engine.Tensor, f func(s *Stream, y, x Mem, t gguf.Type, n int64) error) engine.Tensor {
	return b.rowwise(op, x, nil, nil, func(y, x Mem, dt engine.DType, rows, cols int, _ []Mem) error {
		return f(nil, y, x, ggmlOf(dt), int64(rows)*int64(cols))
	})
}

// AddGated adds y·gate to x in place (gate nil: 1). A BF16 x is promoted to F32 first.
func (b *Backend) AddGated(x, y, gate engine.Tensor) { b.addGated("AddGated", x, y, gate, -1) }

// AddGatedRows adds y·gate in place to rows [from, from+r) of x [L, D], for y [r, D] and gate [D] (the
// chunked FFN's residual, engine/dit.GatedRowAdder).
func (b *Backend) AddGatedRows(x, y, gate engine.Tensor, from int) {
	b.addGated("AddGatedRows", x, y, gate, from)
}

// addGated is AddGated (from < 0: y has x's shape) and AddGatedRows.
func (b *Backend) addGated(op string, xx, yy, gg engine.Tensor, from int) {
	b.run(op, func() error {
		var ts temps
		defer ts.release(b.pool)
		x, err := b.lookup(xx)
		if err == nil && (x.st.pending != nil || from < 0) {
			x, err = b.tensor(xx) // AddGatedRows runs an add pending into x for the rows it writes only
		}
		if err == nil && x.st.weight {
			err = fmt.Errorf("x is a weight %v; the op needs an activation", x.shape)
		}
		if err != nil {
			return err
		}
		y, err := b.tensor(yy)
		if err != nil {
			return err
		}
		L, D := x.rowsCols()
		r, Dy := y.rowsCols()
		if from < 0 {
			if !slices.Equal(x.shape, y.shape) {
				return fmt.Errorf("x %v and y %v differ", x.shape, y.shape)
			}
			from = 0
		} else if len(x.shape) != 2 || Dy != D || from+r > L {
			return fmt.Errorf("y %v does not fit rows [%d, %d) of x %v", y.shape, from, from+r, x.shape)
		}
		if op == "AddGated" {
			if deferred, err := b.deferAdd(x, y, gg); deferred || err != nil {
				return err
			}
		}
		ym, yt, err := b.input(y, &ts)
		if err != nil {
			return err
		}
		g, err := b.vector(gg, D, "gate", &ts)
		if err != nil {
			return err
		}
		if err := b.writtenRows(x, from, from+r); err != nil {
			return err
		}
		if x.st.dtype != engine.F32 {
			if err := b.promote(x); err != nil {
				return err
			}
		}
		n := int64(r) * int64(D)
		xm := x.mem().Slice(int64(from)*int64(D)*4, n*4)
		vec := vecFlag(D, xm, ym, g)
		return b.launchBackend("bk_add_gated_"+suffix(yt), items(n, vec), xm, ym, g, int64(r), int32(D), vec)
	})
}

// promote converts a BF16 activation to F32 in place: its storage (shared by its views) gets a new F32
// buffer. Runs on the CUDA goroutine.
func (b *Backend) promote(x *Tensor) error {
	n := int64(x.numel())
	buf, err := b.pool.get(max(n*4, 1))
	if err != nil {
		return err
	}
	dst := Mem{Ptr: uintptr(buf.ptr), Bytes: n * 4}
	if n > 0 {
		if err := b.d.Cast(nil, dst, gguf.TypeF32, x.mem(), gguf.TypeBF16, n); err != nil {
			b.pool.put(buf)
			return err
		}
	}
	b.pool.put(x.st.buf)
	x.st.buf, x.st.size, x.st.dtype = buf, n*4, engine.F32
	return nil
}

// Add: a + b; b has a's shape or is [D] broadcast over a's rows. The result has a's type (F32 for a weight).
func (b *Backend) Add(x, y engine.Tensor) engine.Tensor { return b.binary("Add", "add", x, y) }

// Mul: a · b with Add's broadcasting.
func (b *Backend) Mul(x, y engine.Tensor) engine.Tensor { return b.binary("Mul", "mul", x, y) }

func (b *Backend) binary(op, kname string, aa, bb engine.Tensor) engine.Tensor {
	var y *Tensor
	b.run(op, func() error {
		var ts temps
		defer ts.release(b.pool)
		a, err := b.tensor(aa)
		if err != nil {
			return err
		}
		bt, err := b.tensor(bb)
		if err != nil {
			return err
		}
		_, D := a.rowsCols()
		bcols := 0
		if !slices.Equal(a.shape, bt.shape) {
			if bt.numel() != D {
				return fmt.Errorf("shapes %v and %v do not broadcast", a.shape, bt.shape)
			}
			bcols = D
		}
		am, at, err := b.input(a, &ts)
		if err != nil {
			return err
		}
		bm, btype, err := b.input(bt, &ts)
		if err != nil {
			return err
		}
		if y, err = b.newAct(a.shape, at); err != nil {
			return err
		}
		n := int64(a.numel())
		vec := int32(0) // 8 at a time: whole groups of 8, none straddling a broadcast row
		if n%8 == 0 && bcols%8 == 0 && aligned16(y.mem(), am, bm) {
			vec = 1
		}
		err = b.launchBackend("bk_"+kname+"_"+suffix(at)+"_"+suffix(btype), items(n, vec), y.mem(), am, bm, n, int32(bcols), vec)
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// Rows gathers rows of a 2-D table into a new F32 tensor [len(ids), D]. A weight table of any ggml type is
// dequantized row by row (consecutive ids in one launch), never whole.
func (b *Backend) Rows(tt engine.Tensor, ids []int32) engine.Tensor {
	var y *Tensor
	b.run("Rows", func() error {
		var ts temps
		defer ts.release(b.pool)
		t, err := b.tensor(tt)
		if err != nil {
			return err
		}
		if len(t.shape) != 2 {
			return fmt.Errorf("table must be 2-D, got %v", t.shape)
		}
		V, D := t.shape[0], t.shape[1]
		for _, id := range ids {
			if id < 0 || int(id) >= V {
				return fmt.Errorf("id %d out of range [0, %d)", id, V)
			}
		}
		if y, err = b.newAct([]int{len(ids), D}, engine.F32); err != nil {
			return err
		}
		if err = b.gather(y, t, ids, &ts); err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// gather fills y [len(ids), D] F32 from the rows of t, one copy or dequantization per run of consecutive
// ids. Runs on the CUDA goroutine.
func (b *Backend) gather(y, t *Tensor, ids []int32, ts *temps) error {
	D := int64(t.shape[1])
	srcType := t.gtype()
	if t.st.weight {
		srcType = t.st.wtype
	}
	rowBytes, err := srcType.RowBytes(D)
	if err != nil {
		return err
	}
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[j-1]+1 {
			j++
		}
		n := int64(j-i) * D
		src := t.mem().Slice(int64(ids[i])*rowBytes, int64(j-i)*rowBytes)
		dst := y.mem().Slice(int64(i)*D*4, n*4)
		switch {
		case n == 0:
		case srcType == gguf.TypeF32:
			err = b.d.CopyDtoD(nil, dst, src, n*4)
		case !t.st.weight:
			err = b.d.Cast(nil, dst, gguf.TypeF32, src, srcType, n)
		case dst.Ptr%16 == 0:
			err = b.d.Dequantize(nil, dst, gguf.TypeF32, src, srcType, n)
		default: // the dequantizers store 16-byte groups: go through an aligned temporary
			var tmp Mem
			if tmp, err = b.tmp(ts, n*4); err == nil {
				if err = b.d.Dequantize(nil, tmp, gguf.TypeF32, src, srcType, n); err == nil {
					err = b.d.CopyDtoD(nil, dst, tmp, n*4)
				}
			}
		}
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// Slice returns rows [from, to) of the outermost dimension as a new tensor (a weight's rows as F32).
func (b *Backend) Slice(tt engine.Tensor, from, to int) engine.Tensor {
	var y *Tensor
	b.run("Slice", func() error {
		t, err := b.lookup(tt)
		if err == nil && t.st.pending != nil {
			t, err = b.tensor(tt)
		}
		if err != nil {
			return err
		}
		if len(t.shape) == 0 || from < 0 || to > t.shape[0] || from > to {
			return fmt.Errorf("rows [%d, %d) of %v", from, to, t.shape)
		}
		if y, err = b.lazySlice(t, from, to); y != nil || err != nil {
			return err
		}
		if err := b.readable(t.st); err != nil {
			return err
		}
		shape := slices.Clone(t.shape)
		shape[0] = to - from
		inner := int64(engine.Numel(t.shape[1:]))
		n := int64(to-from) * inner
		if !t.st.weight {
			if y, err = b.newAct(shape, t.st.dtype); err != nil {
				return err
			}
			eb := dtypeBytes(t.st.dtype)
			err = b.d.CopyDtoD(nil, y.mem(), t.mem().Slice(int64(from)*inner*eb, n*eb), n*eb)
		} else {
			var off, size int64
			if off, err = t.st.wtype.RowBytes(int64(from) * inner); err != nil {
				return err
			}
			if size, err = t.st.wtype.RowBytes(n); err != nil {
				return err
			}
			if y, err = b.newAct(shape, engine.F32); err != nil {
				return err
			}
			if n > 0 {
				err = b.d.Dequantize(nil, y.mem(), gguf.TypeF32, t.mem().Slice(off, size), t.st.wtype, n)
			}
		}
		if err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// Concat joins tensors along the outermost dimension into the first one's type (F32 for a weight).
func (b *Backend) Concat(xs ...engine.Tensor) engine.Tensor {
	var y *Tensor
	b.run("Concat", func() error {
		var ts temps
		defer ts.release(b.pool)
		if len(xs) == 0 {
			return fmt.Errorf("nothing to concatenate")
		}
		parts := make([]*Tensor, len(xs))
		for i, x := range xs {
			t, err := b.tensor(x)
			if err != nil {
				return err
			}
			parts[i] = t
		}
		first := parts[0]
		if len(first.shape) == 0 {
			return fmt.Errorf("cannot concatenate scalars")
		}
		shape := slices.Clone(first.shape)
		shape[0] = 0
		for _, t := range parts {
			if len(t.shape) != len(shape) || !slices.Equal(t.shape[1:], shape[1:]) {
				return fmt.Errorf("shapes %v and %v differ beyond the first dim", first.shape, t.shape)
			}
			shape[0] += t.shape[0]
		}
		dt := first.DType()
		if first.st.weight {
			dt = engine.F32
		}
		var err error
		if y, err = b.newAct(shape, dt); err != nil {
			return err
		}
		var off int64
		eb := dtypeBytes(dt)
		for _, t := range parts {
			n := int64(t.numel())
			if n == 0 {
				continue
			}
			var src Mem
			if src, err = b.as(t, dt, &ts); err == nil {
				err = b.d.CopyDtoD(nil, y.mem().Slice(off, n*eb), src, n*eb)
			}
			if err != nil {
				b.drop(y)
				return err
			}
			off += n * eb
		}
		return nil
	})
	return y
}

// RotatePairs rotates the interleaved pairs of every head of x [L, H·D] in place by the angles whose
// cosines and sines are cos and sin [L, D/2] (F32), in f32; x keeps its type.
func (b *Backend) RotatePairs(xx, cc, ss engine.Tensor, heads int) {
	b.run("RotatePairs", func() error {
		var ts temps
		defer ts.release(b.pool)
		x, err := b.activation(xx, "x")
		if err != nil {
			return err
		}
		L, HD := x.rowsCols()
		if heads <= 0 || HD%heads != 0 || (HD/heads)%2 != 0 {
			return fmt.Errorf("x %v with %d heads", x.shape, heads)
		}
		P := HD / heads / 2
		cs, sn, err := b.ropeTables(cc, ss, L, P, &ts)
		if err != nil {
			return err
		}
		b.written(x.st)
		vec := int32(0)
		if P%4 == 0 && aligned16(x.mem(), cs, sn) {
			vec = 1
		}
		pairs := int64(L) * int64(heads) * int64(P)
		work := pairs
		if vec == 1 {
			work = pairs / 4
		}
		return b.launchBackend("bk_rope_"+suffix(x.st.dtype), work, x.mem(), cs, sn, int64(L), int32(heads), int32(P), vec)
	})
}
