//go:build cuda

package cuda

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// residualAdd is an AddGated(x, y, gate) into an F32 activation x [rows, cols] that has not run, or not
// for all rows yet.
//
// The DiT block follows its gated residual adds with a LayerNorm of the sum (norm3 before cross-attention,
// the FFN's modulated norm, chunk by chunk of rows, and the next block's when the FFN runs unchunked;
// a chunked FFN's last add is AddGatedRows, which runs at once): deferring the add lets that
// norm's materialization (backend_lazy.go) run both in one kernel (norm.cu, add_layernorm), which reads x
// and y and writes x and the normalized output, where the add and the norm would read x twice — one f32
// pass over the residual stream saved. A norm of a row slice (the chunked FFN) runs the add for its rows.
//
// Everything else sees the added value: reading x (tensor, linear), writing or freeing x, writing y and any
// other pending work that reads x run the add first (flushAdd, settle); AddGatedRows runs it for the rows
// it writes. Freeing y does not: the add keeps y's buffer and returns it to the pool once it has run for
// every row. The gate is copied, so it may change or go.
type residualAdd struct {
	x, y       *storage // written; read
	ym         Mem      // y's memory, valid while the add pends (y's buffer is kept when y is freed)
	yt         gguf.Type
	yBuf       *Buffer // y's buffer; ownsY: y was freed and the add returns the buffer to the pool
	ownsY      bool
	gate       *Buffer // a copy of the gate, f32 [cols]; nil: 1
	rows, cols int
	todo       rowRanges // the rows still to add; none: done
}

// done reports whether the add has run for every row (or was abandoned).
func (a *residualAdd) done() bool { return a.todo.empty() }

// rowsMem returns the x and y memory of rows [from, to).
func (a *residualAdd) rowsMem(from, to int) (x, y Mem) {
	c := int64(a.cols)
	eb := elemBytes(a.yt)
	n := int64(to-from) * c
	return a.xMem().Slice(int64(from)*c*4, n*4), a.ym.Slice(int64(from)*c*eb, n*eb)
}

func (a *residualAdd) gateMem() Mem {
	if a.gate == nil {
		return Mem{}
	}
	return Mem{Ptr: uintptr(a.gate.ptr), Bytes: int64(a.cols) * 4}
}

// deferAdd records x += y·gate as a pending residualAdd when the fusion is on, x is an F32 activation of
// y's shape and y an activation other than x; ok is false when the add must run now. Runs on the CUDA
// goroutine; x and y are resolved (no pending work of their own).
func (b *Backend) deferAdd(x, y *Tensor, gg engine.Tensor) (ok bool, err error) {
	if b.noFuse || x.st.dtype != engine.F32 || y.st.weight || y.st == x.st || !slices.Equal(x.shape, y.shape) {
		return false, nil
	}
	rows, cols := x.rowsCols()
	if rows == 0 || cols == 0 {
		return false, nil
	}
	var ts temps
	defer ts.release(b.pool)
	g, err := b.vector(gg, cols, "gate", &ts)
	if err != nil {
		return false, err
	}
	a := &residualAdd{x: x.st, y: y.st, ym: y.mem(), yt: y.gtype(), yBuf: y.st.buf, rows: rows, cols: cols, todo: rowRanges{{0, rows}}}
	if !g.IsNil() {
		if a.gate, err = b.pool.get(int64(cols) * 4); err != nil {
			return false, err
		}
		if err = b.d.CopyDtoD(nil, a.gateMem(), g, int64(cols)*4); err != nil {
			b.pool.put(a.gate)
			return false, err
		}
	}
	// Pending work that reads x sees x before this add; an add already reading y runs before y is shared.
	b.written(x.st)
	if err := b.flushAdd(y.st); err != nil {
		b.finishAdd(a)
		return false, err
	}
	x.st.add, y.st.add = a, a
	return true, nil
}

// flushAdd runs the add pending on st (as its x or its y), if any, for all its rows. Runs on the CUDA
// goroutine.
func (b *Backend) flushAdd(st *storage) error {
	a := st.add
	if a == nil || a.done() {
		st.add = nil
		return nil
	}
	return b.flushRows(a, 0, a.rows)
}

// flushRows runs the add for the rows of [from, to) still to add. Runs on the CUDA goroutine.
func (b *Backend) flushRows(a *residualAdd, from, to int) error {
	cut := a.todo.cut(from, to)
	for i, g := range cut {
		xm, ym := a.rowsMem(g[0], g[1])
		vec := vecFlag(a.cols, xm, ym, a.gateMem())
		n := int64(g[1]-g[0]) * int64(a.cols)
		if err := b.launchBackend("bk_add_gated_"+typeSuffix(a.yt), items(n, vec), xm, ym, a.gateMem(), int64(g[1]-g[0]), int32(a.cols), vec); err != nil {
			a.todo.restore(cut[i:]...) // the ranges before i were added
			return err
		}
	}
	if a.done() {
		b.finishAdd(a)
	}
	return nil
}

// xMem is x's memory (x is never freed while its add pends: release runs the add first).
func (a *residualAdd) xMem() Mem {
	return Mem{Ptr: uintptr(a.x.buf.ptr), Bytes: int64(a.rows) * int64(a.cols) * 4}
}

// finishAdd marks the add as run (or abandoned) and releases what it held. Stream order makes returning
// the buffers safe while its kernel is still queued.
func (b *Backend) finishAdd(a *residualAdd) {
	a.todo = nil
	for _, st := range []*storage{a.x, a.y} {
		if st.add == a {
			st.add = nil
		}
	}
	if a.gate != nil {
		b.pool.put(a.gate)
		a.gate = nil
	}
	if a.ownsY {
		b.pool.put(a.yBuf)
		a.ownsY = false
	}
}

// keepY frees y's storage while an add still reads it: the add takes y's buffer. It reports whether it did.
func (b *Backend) keepY(st *storage) bool {
	a := st.add
	if a == nil || a.done() || a.y != st {
		return false
	}
	st.add = nil
	b.settle(st) // pending norms of y run now (they read y, not the add)
	b.dropShadow(st)
	a.ownsY = true
	st.freed = true
	return true
}

// addNorm runs a pending normalization p into y (of type yt, row stride ldy elements; 0: dense): fused
// with the residual add it was made after when that add still pends for all of p's rows, else after the
// add has run for them. A strided y (a GEMM shadow with spare columns, lora_kcat.go) is bf16.
func (b *Backend) addNorm(p *lazyNorm, y Mem, yt gguf.Type, ldy int) error {
	if ldy == p.cols {
		ldy = 0
	}
	if ldy != 0 && yt != gguf.TypeBF16 {
		return fmt.Errorf("a strided normalization output must be bf16, not %v", yt)
	}
	args := p.args()
	args.LdY = ldy
	if a := p.add; a != nil && !a.done() {
		if !p.copy && a.todo.take(p.row0, p.row0+p.rows) {
			xm, rm := a.rowsMem(p.row0, p.row0+p.rows)
			if err := b.d.AddLayerNorm(nil, y, yt, xm, rm, a.yt, a.gateMem(), p.rows, p.cols, p.eps, args); err != nil {
				a.todo.restore([2]int{p.row0, p.row0 + p.rows}) // not added: still to do
				return err
			}
			if a.done() {
				b.finishAdd(a)
			}
			return nil
		}
		if err := b.flushRows(a, p.row0, p.row0+p.rows); err != nil {
			return err
		}
	} else if err := b.readable(p.inputs[0]); err != nil {
		return err
	}
	if p.copy {
		n := int64(p.rows) * int64(p.cols)
		if yt == gguf.TypeF32 {
			return b.d.CopyDtoD(nil, y, p.src, n*4)
		}
		return b.castRowsBF16(y, cmp.Or(ldy, p.cols), p.src, p.rows, p.cols)
	}
	return b.d.LayerNorm(nil, y, yt, p.src, gguf.TypeF32, p.rows, p.cols, p.eps, args)
}

// writtenRows prepares x for an in-place write of rows [from, to) (AddGatedRows): pending readers run and
// the bf16 shadow goes as for any write, and the add pending into x runs for those rows only, so that the
// norms of the later row chunks can still take theirs.
func (b *Backend) writtenRows(x *Tensor, from, to int) error {
	a := x.st.add
	if _, cols := x.rowsCols(); a == nil || a.x != x.st || a.cols != cols {
		b.written(x.st) // runs any add on x in full
		return nil
	}
	if err := b.flushRows(a, from, to); err != nil {
		return err
	}
	x.st.add = nil // settle must not run the rest: the write does not touch those rows
	b.written(x.st)
	if !a.done() {
		x.st.add = a
	}
	return nil
}

// errAddFailed marks x when its deferred add could not run before x or y changed.
func errAddFailed(err error) error {
	return fmt.Errorf("a deferred residual add could not run before its operands changed: %w", err)
}
