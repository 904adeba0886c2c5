//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// lazyNorm is a LayerNorm of an F32 activation, possibly followed by a Modulate, that has not run yet.
//
// The DiT reads LN(x)·(1 + scale) + shift only as the input of GEMMs, so the backend defers it until it is
// read and then runs one kernel that writes what the reader needs: bf16 for a GEMM (one pass over x and one
// bf16 write, where LayerNorm, Modulate and the cast to bf16 would make three passes over f32 tensors, and
// the f32 result is never allocated), f32 for any other reader. The result is the same function of the same
// inputs: the storages it reads (x, the norm's weight and bias, shift and scale) make it run before they are
// written or freed.
//
// Two more forms share the mechanism. With add, the normalization was made while a gated residual add into x
// was pending (backend_residual.go): it runs that add in the same kernel when it is still pending. With copy,
// it is no normalization but a Slice of x's rows (src): a LayerNorm of it reads x's rows in place, so the
// chunked FFN's row slices of the residual stream are never copied.
type lazyNorm struct {
	src          Mem // x, F32 [rows, cols]
	rows, cols   int
	eps          float32
	w, bias      Mem          // F32 [cols] or none
	shift, scale Mem          // F32 [cols], none until a Modulate joins
	inputs       []*storage   // the storage of src first
	add          *residualAdd // the add into src's storage this was made after, if any
	row0         int          // the row of that add's x that src starts at
	copy         bool
}

func (p *lazyNorm) args() LayerNormArgs {
	return LayerNormArgs{Weight: p.w, Bias: p.bias, Scale: p.scale, Shift: p.shift}
}

// SetFusion turns the deferred LayerNorm/Modulate fusion on (the default) or off, for all views of the
// backend; with it off every op runs when called.
func (b *Backend) SetFusion(on bool) { _ = b.d.Do(func() error { b.noFuse = !on; return nil }) }

// lookup resolves a tensor of this backend without running a pending normalization.
func (b *Backend) lookup(x engine.Tensor) (*Tensor, error) {
	t, ok := x.(*Tensor)
	if !ok || t == nil {
		return nil, fmt.Errorf("not a CUDA tensor (%T)", x)
	}
	if t.st.freed {
		return nil, fmt.Errorf("use of a freed tensor %v", t.shape)
	}
	if t.st.err != nil {
		return nil, fmt.Errorf("tensor %v: %w", t.shape, t.st.err)
	}
	if t.st.borrowed && t.st.buf == nil {
		return nil, fmt.Errorf("weight %v of a swapped block used while the block is not in a device slot (not acquired)", t.shape)
	}
	return t, nil
}

// tensor resolves a tensor whose memory the op reads: a pending normalization runs first (into F32).
func (b *Backend) tensor(x engine.Tensor) (*Tensor, error) {
	t, err := b.lookup(x)
	if err == nil && t.st.pending != nil {
		err = b.materialize(t.st)
	}
	if err == nil {
		err = b.readable(t.st)
	}
	return t, err
}

// readable runs the residual add pending into st, if any, before st's memory is read.
func (b *Backend) readable(st *storage) error {
	if st.add != nil && st.add.x == st {
		return b.flushAdd(st)
	}
	return nil
}

// newPending makes an F32 activation defined by p, registered with the storages p reads.
func (b *Backend) newPending(shape []int, p *lazyNorm) *Tensor {
	st := &storage{size: int64(p.rows) * int64(p.cols) * 4, dtype: engine.F32, pending: p}
	for _, in := range p.inputs {
		in.deps = append(in.deps, st)
	}
	return &Tensor{shape: slices.Clone(shape), st: st}
}

// materialize runs a pending normalization into a new F32 buffer. Runs on the CUDA goroutine.
func (b *Backend) materialize(st *storage) error {
	p := st.pending
	buf, err := b.pool.get(max(st.size, 1))
	if err != nil {
		return err
	}
	y := Mem{Ptr: uintptr(buf.ptr), Bytes: st.size}
	if err := b.addNorm(p, y, gguf.TypeF32, 0); err != nil {
		b.pool.put(buf)
		return err
	}
	st.buf, st.pending = buf, nil
	unlink(st, p.inputs)
	return nil
}

// unlink removes st from the dependents of its inputs.
func unlink(st *storage, inputs []*storage) {
	for _, in := range inputs {
		in.deps = slices.DeleteFunc(in.deps, func(d *storage) bool { return d == st })
	}
}

// settle runs the pending normalizations that read st, and then the residual add pending on st, before st
// is written or freed. One that cannot run (out of memory) is marked failed: its users get the error
// instead of reading changed memory.
func (b *Backend) settle(st *storage) {
	for _, d := range slices.Clone(st.deps) {
		if d.pending == nil || d.freed {
			continue
		}
		if err := b.materialize(d); err != nil {
			unlink(d, d.pending.inputs)
			d.pending, d.err = nil, fmt.Errorf("a deferred LayerNorm could not run before its input changed: %w", err)
		}
	}
	st.deps = nil
	if a := st.add; a != nil && !a.done() {
		if err := b.flushAdd(st); err != nil {
			b.abandonAdd(a, errAddFailed(err))
		}
	}
}

// abandonAdd gives up an add that could not run: x and every pending norm or slice made after the add
// (which would otherwise read x without it) carry err, and the add's buffers go back. Runs on the CUDA
// goroutine.
func (b *Backend) abandonAdd(a *residualAdd, err error) {
	a.x.err = err
	for _, d := range slices.Clone(a.x.deps) {
		if d.pending != nil && d.pending.add == a {
			unlink(d, d.pending.inputs)
			d.pending, d.err = nil, err
		}
	}
	b.finishAdd(a)
}

// written prepares st for an in-place write: pending readers run first and the bf16 shadow goes.
func (b *Backend) written(st *storage) {
	b.settle(st)
	b.dropShadow(st)
}

// release frees an activation's storage: pending readers run first, then its memory and shadow go back to
// the pool (a pending one has none but its links).
func (b *Backend) release(st *storage) {
	if b.keepY(st) {
		return
	}
	b.written(st)
	if st.pending != nil {
		unlink(st, st.pending.inputs)
		st.pending = nil
	} else if st.buf != nil {
		b.pool.put(st.buf)
	}
	st.freed = true
}

// gemmInputLd returns x [rows, cols] as the bf16 operand of a GEMM and its row stride ld in elements (cols
// unless the shadow has spare columns): a bf16 activation as it is; an F32 one through its bf16 shadow,
// made on first use (a pending normalization runs straight into it); a weight converted. spare > 0 asks a
// new shadow for that many spare columns after each row (run-time LoRA's K-concatenated GEMM, lora_kcat.go;
// a strided shadow is made dense when memory is short); an existing shadow is used as it is. Every reader
// of the returned memory must pass ld to its GEMM (GemmOp.LdX). Runs on the CUDA goroutine.
func (b *Backend) gemmInputLd(x *Tensor, ts *temps, spare int) (m Mem, ld int, err error) {
	st := x.st
	n := int64(x.numel())
	rows, cols := x.rowsCols()
	if st.weight {
		m, err = b.as(x, engine.BF16, ts)
		return m, cols, err
	}
	if st.pending == nil {
		if err := b.readable(st); err != nil {
			return Mem{}, 0, err
		}
	}
	switch {
	case st.pending == nil && st.dtype == engine.BF16:
		return x.mem(), cols, nil
	case st.shadow != nil:
		if ld := shadowStride(st, cols); ld != 0 {
			return Mem{Ptr: uintptr(st.shadow.ptr), Bytes: int64(rows) * int64(ld) * 2}, ld, nil
		}
		b.dropShadow(st) // strided for a view of another width: made again for this one
	}
	ld = cols
	// Spare columns only when the view's rows are the normalization's (a Reshape to another width reads the
	// pending result dense, as it would any other activation).
	if spare > 0 && n > 0 && (st.pending == nil || st.pending.cols == cols) {
		ld = cols + spare
	}
	buf, err := b.pool.get(max(int64(rows)*int64(ld)*2, 1))
	if err != nil && ld != cols && outOfMemory(err) {
		ld = cols
		buf, err = b.pool.get(max(n*2, 1))
	}
	if err != nil {
		return Mem{}, 0, err
	}
	m = Mem{Ptr: uintptr(buf.ptr), Bytes: int64(rows) * int64(ld) * 2}
	if p := st.pending; p != nil {
		nld := 0 // dense: the normalization's own rows back to back, whatever the view's width
		if ld != cols {
			nld = ld
		}
		err = b.addNorm(p, m, gguf.TypeBF16, nld)
	} else if n > 0 {
		err = b.castRowsBF16(m, ld, x.mem(), rows, cols)
	}
	if err != nil {
		b.pool.put(buf)
		return Mem{}, 0, err
	}
	b.setShadow(st, buf, cols, ld)
	return m, ld, nil
}

// stableVector resolves an optional per-column operand to F32 memory that stays valid until its tensor is
// written or freed (an F32 activation, an F32 weight or a weight's cached copy), with the storage holding
// it; ok is false when it would need a temporary conversion.
func (b *Backend) stableVector(x engine.Tensor, cols int, what string) (m Mem, st *storage, ok bool, err error) {
	if x == nil {
		return Mem{}, nil, true, nil
	}
	var ts temps
	defer ts.release(b.pool)
	if m, err = b.vector(x, cols, what, &ts); err != nil {
		return Mem{}, nil, false, err
	}
	return m, x.(*Tensor).st, len(ts) == 0, nil
}

// lazyLayerNorm returns LN(x)·w + bias as a pending activation when x is an F32 activation and w and bias
// are stable, or nil (the op then runs at once). Runs on the CUDA goroutine.
func (b *Backend) lazyLayerNorm(xx, ww, bb engine.Tensor, eps float32) (*Tensor, error) {
	if b.noFuse {
		return nil, nil
	}
	x, err := b.lookup(xx)
	if err != nil {
		return nil, err
	}
	var p *lazyNorm
	rows, cols := x.rowsCols()
	switch q := x.st.pending; {
	case q != nil && q.copy: // a slice of rows: normalize them where they are
		p = &lazyNorm{src: q.src, inputs: slices.Clone(q.inputs), add: q.add, row0: q.row0}
		if cols != q.cols {
			// A view of another width (a Reshape of the slice): the add's rows do not map onto the
			// norm's, so the norm does not take the add; it runs first, when the norm reads x.
			p.add, p.row0 = nil, 0
		}
	case q == nil && fusableAdd(x.st, cols): // after a pending add: fuse it
		p = &lazyNorm{src: x.mem(), inputs: []*storage{x.st}, add: x.st.add}
	default:
		if x, err = b.tensor(xx); err != nil {
			return nil, err
		}
		p = &lazyNorm{src: x.mem(), inputs: []*storage{x.st}}
	}
	if x.st.weight || x.st.dtype != engine.F32 || rows == 0 || cols == 0 {
		return nil, nil
	}
	p.rows, p.cols, p.eps = rows, cols, eps
	for _, v := range []struct {
		t    engine.Tensor
		m    *Mem
		what string
	}{{ww, &p.w, "weight"}, {bb, &p.bias, "bias"}} {
		m, st, ok, err := b.stableVector(v.t, cols, v.what)
		if err != nil || !ok {
			return nil, err
		}
		if st != nil {
			*v.m = m
			p.inputs = append(p.inputs, st)
		}
	}
	return b.newPending(x.shape, p), nil
}

// lazyModulate joins a Modulate to a pending LayerNorm (with stable shift and scale) as a new pending
// activation, or returns nil (the op then runs at once). Runs on the CUDA goroutine.
func (b *Backend) lazyModulate(xx, shift, scale engine.Tensor) (*Tensor, error) {
	if b.noFuse || shift == nil || scale == nil {
		return nil, nil
	}
	x, err := b.lookup(xx)
	if err != nil || x.st.pending == nil || x.st.pending.copy || !x.st.pending.shift.IsNil() {
		return nil, err
	}
	p := *x.st.pending
	p.inputs = slices.Clone(p.inputs)
	for _, v := range []struct {
		t    engine.Tensor
		m    *Mem
		what string
	}{{shift, &p.shift, "shift"}, {scale, &p.scale, "scale"}} {
		m, st, ok, err := b.stableVector(v.t, p.cols, v.what)
		if err != nil || !ok {
			return nil, err
		}
		*v.m = m
		p.inputs = append(p.inputs, st)
	}
	return b.newPending(x.shape, &p), nil
}

// fusableAdd reports whether a residual add pends into st with rows of cols elements, the rows of a norm
// that would run it.
func fusableAdd(st *storage, cols int) bool {
	a := st.add
	return a != nil && a.x == st && !a.done() && a.cols == cols
}

// lazySlice returns rows [from, to) of the F32 activation t as a pending copy (see lazyNorm), or nil (the
// slice is then copied at once). A residual add pending into t stays pending: a LayerNorm of the slice runs
// it for the slice's rows. Runs on the CUDA goroutine; t is not pending.
func (b *Backend) lazySlice(t *Tensor, from, to int) (*Tensor, error) {
	if b.noFuse || t.st.weight || t.st.dtype != engine.F32 || len(t.shape) < 2 || from >= to {
		return nil, nil
	}
	shape := slices.Clone(t.shape)
	shape[0] = to - from
	inner := int64(engine.Numel(t.shape[1:]))
	n := int64(to-from) * inner
	c := t.shape[len(t.shape)-1]
	if n == 0 || c == 0 {
		return nil, nil
	}
	p := &lazyNorm{src: t.mem().Slice(int64(from)*inner*4, n*4), rows: int(n) / c, cols: c, inputs: []*storage{t.st}, copy: true}
	if fusableAdd(t.st, c) {
		p.add, p.row0 = t.st.add, int(int64(from)*inner/int64(c))
	} else if err := b.readable(t.st); err != nil {
		return nil, err
	}
	return b.newPending(shape, p), nil
}
