//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// TestKcatCacheKeys checks the [W | up] cache's logic without a GPU (lora_kcat_cache.go): which calls may
// be cached (weights with memory, not activations, freed storages or unbound swapped weights), that a
// rebound weight (a new Buffer, as swapSet.Upload makes) or another rank, shape or type misses, that a
// miss and a keep return the old entry to the free lists, that forgetKept drops the entry only for its own
// W or up, and the pool's accounting (the entry counts as cached, as in use while taken).
func TestKcatCacheKeys(t *testing.T) {
	buf := func(size int64) *Buffer { return &Buffer{size: size} }
	weight := func() *storage { return &storage{buf: buf(4096), weight: true, wtype: gguf.TypeBF16} }
	tensor := func(st *storage, shape ...int) *Tensor { return &Tensor{shape: shape, st: st} }
	const N, K, r = 64, 24, 8
	w, up := weight(), weight()
	key, ok := kcatKeyOf(tensor(w, N, K), tensor(up, N, r), N, K, r)
	if !ok {
		t.Fatal("two weights with memory cannot be cached")
	}

	act := &storage{buf: buf(4096), dtype: engine.BF16}
	freed := weight()
	freed.freed = true
	unbound := weight()
	unbound.borrowed, unbound.buf = true, nil
	for _, c := range []struct {
		what  string
		w, up *storage
	}{
		{"an activation W", act, up}, {"an activation up", w, act},
		{"a freed W", freed, up}, {"a freed up", w, freed},
		{"an unbound swapped W", unbound, up}, {"an unbound swapped up", w, unbound},
	} {
		if _, ok := kcatKeyOf(tensor(c.w, N, K), tensor(c.up, N, r), N, K, r); ok {
			t.Errorf("%s may be cached", c.what)
		}
	}

	rebound := *w
	rebound.buf = &Buffer{ptr: w.buf.ptr, size: w.buf.size} // the same memory, a new binding
	others := map[string]kcatKey{}
	for what, k := range map[string]struct {
		w, up   *storage
		n, k, r int
	}{
		"another rank": {w, up, N, K, 16}, "another N": {w, up, 72, K, r}, "another K": {w, up, N, 32, r},
		"another W": {weight(), up, N, K, r}, "another up": {w, weight(), N, K, r},
	} {
		others[what], _ = kcatKeyOf(tensor(k.w, k.n, k.k), tensor(k.up, k.n, k.r), k.n, k.k, k.r)
	}
	others["W rebound to its slot"], _ = kcatKeyOf(tensor(&rebound, N, K), tensor(up, N, r), N, K, r)
	q8 := *w
	q8.wtype = gguf.TypeQ8_0
	others["another W type"], _ = kcatKeyOf(tensor(&q8, N, K), tensor(up, N, r), N, K, r)

	const size = 8192
	p := &pool{free: map[int64][]*Buffer{}}
	entry := buf(size)
	// keep: in use → cached; takeKept: cached → in use.
	put := func() {
		p.took(size)
		p.keep(key, entry)
	}
	// clearFree takes the evicted entry out of the free lists (and the cached bytes) again.
	clearFree := func() {
		p.cached -= int64(len(p.free[size])) * size
		p.free[size] = nil
	}
	put()
	if p.inUse != 0 || p.cached != size || p.kept == nil {
		t.Fatalf("after keep: in use %d, cached %d, entry %v; want 0, %d, held", p.inUse, p.cached, p.kept != nil, size)
	}
	if got := p.takeKept(key); got != entry || p.inUse != size || p.cached != 0 || p.kept != nil {
		t.Fatalf("takeKept of the same key: %p (want %p), in use %d, cached %d", got, entry, p.inUse, p.cached)
	}
	p.keep(key, entry)
	for what, k := range others {
		if k == key {
			t.Errorf("%s gives the same key", what)
			continue
		}
		if got := p.takeKept(k); got != nil {
			t.Errorf("%s: takeKept hit", what)
		}
		if p.kept != nil || len(p.free[size]) != 1 || p.free[size][0] != entry || p.cached != size || p.inUse != 0 {
			t.Errorf("%s: after the miss: entry held %v, free list %v, cached %d, in use %d; want the entry in the free list, still cached",
				what, p.kept != nil, p.free[size], p.cached, p.inUse)
		}
		clearFree()
		put()
	}

	// forgetKept: only W's and up's storages drop the entry.
	p.forgetKept(weight())
	p.forgetKept(act)
	if p.kept == nil {
		t.Error("forgetKept of an unrelated storage dropped the entry")
	}
	for _, st := range []*storage{w, up} {
		p.forgetKept(st)
		if p.kept != nil || len(p.free[size]) != 1 {
			t.Error("forgetKept of the entry's W or up kept it")
		}
		clearFree()
		put()
	}

	// keep over a held entry returns the old one to the free lists; the totals stay consistent.
	second := buf(2 * size)
	p.took(2 * size)
	p.keep(others["another rank"], second)
	if p.kept == nil || p.kept.buf != second || len(p.free[size]) != 1 || p.cached != 3*size || p.inUse != 0 {
		t.Errorf("keep over an entry: held %v, free %v, cached %d, in use %d", p.kept != nil, p.free[size], p.cached, p.inUse)
	}
}

// kcatKept returns the key of b's cached [W | up] and its buffer's size (0: no entry).
func kcatKept(b *Backend) (key kcatKey, size int64) {
	_ = b.d.Do(func() error {
		if e := b.pool.kept; e != nil {
			key, size = e.key, e.buf.size
		}
		return nil
	})
	return key, size
}

// pairWeight makes the same weight of type typ from v on b (the GPU side, or a view of it) and on the
// CPU backend.
func (p *opPair) pairWeight(b engine.Backend, typ gguf.Type, v []float32, shape ...int) (engine.Tensor, engine.Tensor) {
	p.t.Helper()
	data, err := gguf.Quantize(typ, v)
	if err != nil {
		p.t.Fatal(err)
	}
	s64 := make([]int64, len(shape))
	for i, d := range shape {
		s64[i] = int64(d)
	}
	info := gguf.TensorInfo{Name: "w", Type: typ, Shape: s64}
	return b.Weight(info, data), p.c.Weight(info, data)
}

// The shapes of the cache tests with one LoRA linear: x [cacheM, cacheK], W [cacheN, cacheK], rank cacheR;
// cacheM > cacheK + cacheR, so that a BF16 W takes the K-concatenated path.
const cacheM, cacheK, cacheN, cacheR = 400, 256, 72, 16

// newCacheCase skips without cuBLASLt and makes a test's backends, down [cacheR, cacheK] and an F32 input
// x [cacheM, cacheK] on both sides (the GPU ones freed when the test ends).
func newCacheCase(t *testing.T) (p *opPair, dg, dc, xg, xc engine.Tensor) {
	t.Helper()
	p = newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	dg, dc = p.weight(gguf.TypeBF16, 1/math.Sqrt(cacheK), cacheR, cacheK)
	xg, xc = p.act(engine.F32, 1, cacheM, cacheK)
	t.Cleanup(func() { p.g.Free(dg, xg) })
	return p, dg, dc, xg, xc
}

// sameValues reports whether the GPU tensors a and b hold the same values, bit for bit.
func (p *opPair) sameValues(a, b engine.Tensor) bool {
	return slicesEqualF32(p.g.ToHost(a), p.g.ToHost(b))
}

// TestLoRAKcatCacheChunked runs the chunked FFN of a block the way engine/dit does (ffn.0 with GELU, then
// ffn.2, per chunk of rows: 400, 400 and 300) with a LoRA on both linears, for a BF16 W (copied into [W |
// up]) and a Q8_0 one (dequantized into it): ffn.0 takes the K-concatenated path in every chunk and ffn.2
// (a BF16 input) three GEMMs, and [W | up] is built once for the three ffn.0 calls (kcatStats.builds);
// each chunk's outputs equal the CPU reference; afterwards the entry is ffn.0's and counts as cached, not in
// use. Then each chunk's ffn.0 is run again with the cache emptied first: the uncached results equal the
// ones that read the cached operand bit for bit.
func TestLoRAKcatCacheChunked(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	const D, F, r = 256, 512, 16
	chunks := []int{400, 400, 300} // > D + r: ffn.0 fuses for a copied W too
	bf := gguf.TypeBF16
	for _, typ := range []gguf.Type{gguf.TypeBF16, gguf.TypeQ8_0} {
		w0g, w0c := p.weight(typ, 1/math.Sqrt(D), F, D)
		b0g, b0c := p.weight(gguf.TypeF32, 0.5, F)
		d0g, d0c := p.weight(bf, 1/math.Sqrt(D), r, D)
		u0g, u0c := p.weight(bf, 0.5/math.Sqrt(r), F, r)
		w2g, w2c := p.weight(typ, 1/math.Sqrt(F), D, F)
		d2g, d2c := p.weight(bf, 1/math.Sqrt(F), r, F)
		u2g, u2c := p.weight(bf, 0.5/math.Sqrt(r), D, r)
		base := p.g.PoolStats().InUse
		c0, b0 := kcatCounts(), kcatStats.builds.Load()
		var xs, hs, outs []engine.Tensor
		for i, M := range chunks {
			name := fmt.Sprintf("%v: chunk %d (%d rows)", typ, i, M)
			xg, xc := p.act(engine.F32, 1, M, D)
			hg := p.g.LinearLoRA(xg, w0g, b0g, d0g, u0g, true)
			p.check(name+", ffn.0", hg, p.loraRef(xc, w0c, b0c, d0c, u0c, true), tolBF16)
			og := p.g.LinearLoRA(hg, w2g, nil, d2g, u2g, false)
			hc := p.c.FromHost(p.g.ToHost(hg), M, F) // ffn.2's reference reads the GPU's bf16 GELU output
			p.check(name+", ffn.2", og, p.loraRef(hc, w2c, nil, d2c, u2c, false), tolBF16)
			xs, hs, outs = append(xs, xg), append(hs, hg), append(outs, og)
		}
		c1 := kcatCounts()
		n := int64(len(chunks))
		var declined int64 // ffn.2 calls that the cost model sends to three GEMMs (a BF16 W at M ≤ F + r)
		for _, M := range chunks {
			if !kcatPays(M, D, F, r, kcatCopiesW(true, typ)) {
				declined++
			}
		}
		if got := [3]int64{c1[0] - c0[0], c1[1] - c0[1], c1[2] - c0[2]}; got != [3]int64{n, n, declined} {
			t.Errorf("%v: %d K-concatenated, %d three-GEMM (%d by the cost model) calls, want %d, %d (%d)",
				typ, got[0], got[1], got[2], n, n, declined)
		}
		if got := kcatStats.builds.Load() - b0; got != 1 {
			t.Errorf("%v: [W | up] built %d times for %d chunks of ffn.0, want once", typ, got, n)
		}
		key, size := kcatKept(p.g)
		if size == 0 || key.w != w0g.(*Tensor).st || key.up != u0g.(*Tensor).st {
			t.Errorf("%v: the cache does not hold ffn.0's [W | up] after the chunks (size %d)", typ, size)
		}
		p.g.Free(outs...)
		if s := p.g.PoolStats(); s.InUse-base != poolBytes(p, xs, hs) || s.Cached < size {
			t.Errorf("%v: pool in use %d above the live chunks' %d, cached %d; the entry (%d bytes) should count as cached only",
				typ, s.InUse-base, poolBytes(p, xs, hs), s.Cached, size)
		}

		// The uncached path gives the same bits.
		b1 := kcatStats.builds.Load()
		for i, xg := range xs {
			_ = p.g.d.Do(func() error { p.g.pool.evictKept(); return nil })
			h := p.g.LinearLoRA(xg, w0g, b0g, d0g, u0g, true)
			if !p.sameValues(h, hs[i]) {
				t.Errorf("%v: chunk %d: ffn.0 with [W | up] built again differs from the result that used the cached one (relative L2 %.3g)",
					typ, i, golden.RelL2(p.g.ToHost(h), p.g.ToHost(hs[i])))
			}
			p.g.Free(h)
		}
		if got := kcatStats.builds.Load() - b1; got != n {
			t.Errorf("%v: %d builds for %d calls with the cache emptied before each", typ, got, n)
		}
		p.g.Free(xs...)
		p.g.Free(hs...)
		p.g.Free(w0g, b0g, d0g, u0g, w2g, d2g, u2g)
		if _, size := kcatKept(p.g); size != 0 {
			t.Errorf("%v: the cache still holds [W | up] after its weights were freed", typ)
		}
	}
}

// poolBytes is the pool's size classes of the live tensors' storages.
func poolBytes(p *opPair, lists ...[]engine.Tensor) int64 {
	var n int64
	_ = p.g.d.Do(func() error {
		for _, l := range lists {
			for _, x := range l {
				if st := x.(*Tensor).st; st.buf != nil {
					n += st.buf.size
				}
				if st := x.(*Tensor).st; st.shadow != nil {
					n += st.shadow.size
				}
			}
		}
		return nil
	})
	return n
}

// TestLoRAKcatCacheMerge: a MergeLoRA in place into W between two LoRA calls drops the cached [W | up]
// (which holds W's old values): the second call builds it again, and its result equals the CPU reference
// with the merged weight (a stale operand would give the unmerged result, which differs by far more than
// the tolerance). Before the merge, a second call with the same W and up reads the cache (no build) and
// gives the same bits.
func TestLoRAKcatCacheMerge(t *testing.T) {
	p, dg, dc, xg, xc := newCacheCase(t)
	if !p.g.d.CanAccumulate(GemmAuto) {
		t.Skipf("cuBLASLt cannot accumulate (%s): MergeLoRA declines", p.g.d.ltReason)
	}
	const K, N, r, mr = cacheK, cacheN, cacheR, 8
	bf := gguf.TypeBF16
	wv := p.vals(N*K, 1/math.Sqrt(K), true)
	wg, _ := p.pairWeight(p.g, bf, wv, N, K)
	ug, uc := p.weight(bf, 0.5/math.Sqrt(r), N, r)
	defer p.g.Free(wg, ug)

	b0 := kcatStats.builds.Load()
	y1 := p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
	y1b := p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
	defer p.g.Free(y1, y1b)
	if got := kcatStats.builds.Load() - b0; got != 1 {
		t.Fatalf("two calls with the same W and up built [W | up] %d times, want once (the cache is not used)", got)
	}
	if !p.sameValues(y1, y1b) {
		t.Error("the call that read the cached [W | up] differs from the one that built it")
	}

	mu := p.vals(N*mr, 1/math.Sqrt(mr), false)
	md := p.vals(mr*K, 1/math.Sqrt(K), false)
	out, err := p.g.MergeLoRA(wg, "w", mu, md, mr, true)
	if err != nil {
		t.Fatalf("MergeLoRA in place: %v", err)
	}
	if out != wg {
		t.Fatal("MergeLoRA in place returned another tensor")
	}
	if _, size := kcatKept(p.g); size != 0 {
		t.Error("MergeLoRA in place left the cached [W | up] of the weight it changed")
	}
	merged := p.g.ToHost(wg)
	if e := relL2(merged, mergeRef(wv, mu, md, N, mr, K)); !(e <= tolBF16) {
		t.Fatalf("the merged weight is off by %.3g (relative L2): MergeLoRA itself is wrong", e)
	}
	wmc, _ := p.pairWeight(p.c, bf, merged, N, K) // the reference's weight: the merged bf16 values, on the CPU

	b1 := kcatStats.builds.Load()
	y2 := p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
	defer p.g.Free(y2)
	if got := kcatStats.builds.Load() - b1; got != 1 {
		t.Errorf("the call after the merge built [W | up] %d times, want once", got)
	}
	p.check("LoRA linear after an in-place merge into W", y2, p.loraRef(xc, wmc, nil, dc, uc, false), tolBF16)
	if e := golden.RelL2(p.g.ToHost(y2), p.g.ToHost(y1)); e < 10*tolBF16 {
		t.Errorf("the merge changed the output by only %.3g (relative L2): the test cannot tell a stale operand", e)
	}
}

// TestLoRAKcatCacheFree: freeing the W or the up of the cached [W | up] (Free), or the model that owns
// both (FreeOwner), drops the entry at once (its buffer goes back to the pool's free lists), a LoRA call
// with the freed tensor fails, and the next call with new weights of the same shapes builds its operand
// and equals the CPU reference.
func TestLoRAKcatCacheFree(t *testing.T) {
	p, dg, dc, xg, xc := newCacheCase(t)
	const K, N, r = cacheK, cacheN, cacheR
	bf := gguf.TypeBF16
	for i, what := range []string{"W freed", "up freed", "the model freed (FreeOwner)"} {
		owner := fmt.Sprintf("kcat-cache-%d", i)
		m := p.g.ForModel(owner)
		wg, wc := p.pairWeight(m, bf, p.vals(N*K, 1/math.Sqrt(K), true), N, K)
		ug, uc := p.pairWeight(m, bf, p.vals(N*r, 0.5/math.Sqrt(r), true), N, r)
		y := p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
		p.check(what+": first call", y, p.loraRef(xc, wc, nil, dc, uc, false), tolBF16)
		p.g.Free(y)
		key, size := kcatKept(p.g)
		if size == 0 || key.w != wg.(*Tensor).st || key.up != ug.(*Tensor).st {
			t.Fatalf("%s: the cache does not hold the call's [W | up]", what)
		}
		cached := p.g.PoolStats().Cached
		oldW, oldU := wg, ug
		switch i {
		case 0:
			p.g.Free(wg)
			wg, wc = p.pairWeight(m, bf, p.vals(N*K, 1/math.Sqrt(K), true), N, K)
		case 1:
			p.g.Free(ug)
			ug, uc = p.pairWeight(m, bf, p.vals(N*r, 0.5/math.Sqrt(r), true), N, r)
		default:
			if _, err := p.g.FreeOwner(owner); err != nil {
				t.Fatalf("FreeOwner: %v", err)
			}
			wg, wc = p.pairWeight(m, bf, p.vals(N*K, 1/math.Sqrt(K), true), N, K)
			ug, uc = p.pairWeight(m, bf, p.vals(N*r, 0.5/math.Sqrt(r), true), N, r)
		}
		if _, size := kcatKept(p.g); size != 0 {
			t.Errorf("%s: the cached [W | up] is still held", what)
		}
		if c := p.g.PoolStats().Cached; c != cached {
			t.Errorf("%s: pool cached bytes %d → %d; the entry's buffer should have moved to the free lists", what, cached, c)
		}
		if err := catchOp(func() { p.g.Free(p.g.LinearLoRA(xg, oldW, nil, dg, oldU, false)) }); err == nil {
			t.Errorf("%s: a LoRA call with the freed tensor succeeded", what)
		}
		b0 := kcatStats.builds.Load()
		y = p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
		if got := kcatStats.builds.Load() - b0; got != 1 {
			t.Errorf("%s: %d builds for the call with the new weights, want 1", what, got)
		}
		p.check(what+": the call with the new weights", y, p.loraRef(xc, wc, nil, dc, uc, false), tolBF16)
		p.g.Free(y)
		if _, err := p.g.FreeOwner(owner); err != nil {
			t.Fatalf("FreeOwner: %v", err)
		}
	}
}

// TestLoRAKcatCacheOutOfMemory: the cached [W | up] is a pool buffer in the device budget (under
// ActivationOwner), and an allocation the budget refuses drops it: with the budget's limit set so that a
// request fits only once the cached buffers are freed, pool.get's out-of-memory retry frees them, the
// entry included (the activation bytes fall by at least its size), and the request succeeds. The next call
// builds [W | up] again and is right. Trim drops the entry too.
func TestLoRAKcatCacheOutOfMemory(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	const M, K, N, r = 400, 256, 1024, 16 // [W | up] of 0.54 MiB
	bf := gguf.TypeBF16
	wg, wc := p.weight(bf, 1/math.Sqrt(K), N, K)
	dg, dc := p.weight(bf, 1/math.Sqrt(K), r, K)
	ug, uc := p.weight(bf, 0.5/math.Sqrt(r), N, r)
	xg, xc := p.act(engine.F32, 1, M, K)
	defer p.g.Free(wg, dg, ug, xg)
	want := p.loraRef(xc, wc, nil, dc, uc, false)

	p.g.Free(p.g.LinearLoRA(xg, wg, nil, dg, ug, false))
	_, size := kcatKept(p.g)
	if size == 0 {
		t.Fatal("the call left no cached [W | up]")
	}
	d := p.g.d
	before := d.MemStats().ByOwner[ActivationOwner]
	if before < size {
		t.Errorf("the activation owner holds %d bytes, less than the cached [W | up]'s %d: it is not in the budget", before, size)
	}
	req := size + size/2 // a size class of its own: no free list serves it
	var got *Buffer
	var err error
	func() {
		// Only this test's goroutine and the CUDA one use the device now; the limit is restored before any other test.
		d.mem.mu.Lock()
		limit := d.mem.limit
		d.mem.limit = d.mem.inUse + req/2 // refused now; fits once the cached bytes (≥ size) are freed
		d.mem.mu.Unlock()
		defer func() {
			d.mem.mu.Lock()
			d.mem.limit = limit
			d.mem.mu.Unlock()
		}()
		err = d.Do(func() error {
			if l := p.g.pool.free[poolClass(req)]; len(l) > 0 {
				return fmt.Errorf("the test's request of %d bytes is served by a free list", req)
			}
			var gerr error
			got, gerr = p.g.pool.get(req)
			return gerr
		})
	}()
	if err != nil {
		t.Fatalf("an allocation that fits after the out-of-memory retry failed: %v", err)
	}
	after := d.MemStats().ByOwner[ActivationOwner]
	_ = d.Do(func() error { p.g.pool.put(got); return nil })
	if _, s := kcatKept(p.g); s != 0 {
		t.Error("the out-of-memory retry left the cached [W | up]")
	}
	if after-got.size > before-size {
		t.Errorf("activation bytes %d before, %d after the retry (its %d-byte buffer included): the cached %d bytes were not freed",
			before, after, got.size, size)
	}

	b0 := kcatStats.builds.Load()
	y := p.g.LinearLoRA(xg, wg, nil, dg, ug, false)
	if n := kcatStats.builds.Load() - b0; n != 1 {
		t.Errorf("%d builds after the out-of-memory retry, want 1", n)
	}
	p.check("LoRA linear after the out-of-memory retry", y, want, tolBF16)
	p.g.Free(y)
	if _, s := kcatKept(p.g); s == 0 {
		t.Fatal("the call left no cached [W | up]")
	}
	must(t, p.g.Trim())
	if _, s := kcatKept(p.g); s != 0 || p.g.PoolStats().Cached != 0 {
		t.Errorf("Trim left the cached [W | up] (%d bytes), %d bytes cached", s, p.g.PoolStats().Cached)
	}
}

// TestLoRAKcatCacheSwap: weights of swapped blocks (borrowed from a device slot) are cached while their
// block is bound: two blocks with their own W and up share one slot; a second call with block 0 bound reads
// the cache; uploading block 1 into the slot (which unbinds block 0) drops the entry; block 1's call builds
// its own operand and is right, and block 0 uploaded into the same slot again (a new binding) builds again
// and is right, so no call reads an operand of the slot's previous contents.
func TestLoRAKcatCacheSwap(t *testing.T) {
	p, dg, dc, xg, xc := newCacheCase(t)
	const K, N, r = cacheK, cacheN, cacheR
	bf := gguf.TypeBF16
	var layouts []engine.SlabLayout
	for i := range 2 {
		layouts = append(layouts, engine.NewSlabLayout(
			[]string{fmt.Sprintf("blk.%d.w", i), fmt.Sprintf("blk.%d.up", i)}, []int64{N * K * 2, N * r * 2}))
	}
	slot := max(layouts[0].Bytes, layouts[1].Bytes)
	set, err := p.g.NewSwap(blockswap.Plan{Resident: []bool{false, false}, Slots: 1, SlotBytes: slot}, layouts)
	if err != nil {
		t.Fatalf("NewSwap: %v", err)
	}
	defer func() { must(t, set.Close()) }()
	type blockW struct{ wg, wc, ug, uc engine.Tensor }
	var blocks []blockW
	for i := range 2 {
		v := set.Backend(i)
		mk := func(name string, vals []float32, shape ...int) (engine.Tensor, engine.Tensor) {
			data, err := gguf.Quantize(bf, vals)
			if err != nil {
				t.Fatal(err)
			}
			info := gguf.TensorInfo{Name: name, Type: bf, Shape: []int64{int64(shape[0]), int64(shape[1])}}
			return v.Weight(info, data), p.c.Weight(info, data)
		}
		wg, wc := mk(fmt.Sprintf("blk.%d.w", i), p.vals(N*K, 1/math.Sqrt(K), true), N, K)
		ug, uc := mk(fmt.Sprintf("blk.%d.up", i), p.vals(N*r, 0.5/math.Sqrt(r), true), N, r)
		if !wg.(*Tensor).st.borrowed || !ug.(*Tensor).st.borrowed {
			t.Fatalf("block %d: the layout's tensors are not slot-borrowed weights", i)
		}
		blocks = append(blocks, blockW{wg, wc, ug, uc})
	}
	must(t, set.Loaded())
	sl, err := set.NewSlot(slot)
	if err != nil {
		t.Fatalf("NewSlot: %v", err)
	}
	upload := func(block int) {
		t.Helper()
		done, err := set.Done()
		must(t, err)
		f, err := set.Upload(sl, block, done)
		must(t, err)
		must(t, set.Wait(f))
	}
	call := func(what string, block int, builds int64) engine.Tensor {
		t.Helper()
		bw := blocks[block]
		b0 := kcatStats.builds.Load()
		y := p.g.LinearLoRA(xg, bw.wg, nil, dg, bw.ug, false)
		if got := kcatStats.builds.Load() - b0; got != builds {
			t.Errorf("%s: %d builds of [W | up], want %d", what, got, builds)
		}
		p.check(what, y, p.loraRef(xc, bw.wc, nil, dc, bw.uc, false), tolBF16)
		return y
	}

	upload(0)
	y0 := call("block 0", 0, 1)
	y0b := call("block 0 again, same binding (cached)", 0, 0)
	if !p.sameValues(y0, y0b) {
		t.Error("block 0: the call that read the cached [W | up] differs from the one that built it")
	}
	upload(1)
	if _, s := kcatKept(p.g); s != 0 {
		t.Error("unbinding block 0 (block 1 uploaded into its slot) left its cached [W | up]")
	}
	y1 := call("block 1 in the slot", 1, 1)
	upload(0)
	y0c := call("block 0 uploaded into the same slot again", 0, 1)
	if !p.sameValues(y0, y0c) {
		t.Error("block 0 after a new binding differs from its first result")
	}
	if slices.Equal(p.g.ToHost(y0), p.g.ToHost(y1)) {
		t.Error("blocks 0 and 1 give the same result: the test cannot tell them apart")
	}
	p.g.Free(y0, y0b, y1, y0c)
}
