//go:build cuda

package cuda

import "github.com/wan22/wan22/gguf"

// The [W | up] cache of run-time LoRA's K-concatenated GEMM (lora_kcat.go): the operand [W | up] [N, K + r]
// the last K-concatenated call built is kept, and a later call with the same key uses it instead of building
// it again. One entry is enough for what it is for: the DiT's FFN runs in row chunks (engine/dit's
// DefaultFFNChunk, 8192 rows: 4 chunks at L = 32760), ffn.0 (W [13824, 5120]) takes the K-concatenated path
// in every chunk and ffn.2, whose input is the BF16 GELU output (no shadow), the three-GEMM path, so no other
// [W | up] is built between two chunks' ffn.0 calls and ffn.0 builds its operand once per block instead of
// once per chunk (for a BF16 W a copy of 141 MB, 0.1 ms on an H100; for a quantized one a dequantization).
//
// Validity: a call uses the entry only when its key (kcatKey) equals the entry's:
//   - the storages of W and up (*storage, not device pointers): the entry holds them, so neither can be
//     collected and its address reused by another tensor; freeing either forgets the entry (freeWeight,
//     FreeOwner: forgetKept), so a freed weight never matches and its operand goes back to the pool at once.
//   - the Buffers those storages had when the entry was built, the binding's generation: a weight of a swapped
//     block (storage.borrowed) borrows its device slot's memory through a Buffer that swapSet.Upload makes anew
//     at every binding, nil while the block is unbound, and the slot's bytes are rewritten by the next block's
//     upload; so a block that was unbound and bound again, into the same slot or another, misses. Borrowed
//     weights are cached rather than excluded: within one block's forward its binding does not change, and the
//     chunked FFN of a swapped block gains as much as a resident one's. Unbinding a block (swapSet.unbind, the
//     end of the block's use) forgets the entry too, so that its memory goes back to the pool then.
//   - W's and up's ggml types, N, K and r.
//
// Only weights are cached: an activation (a W or an up that is not a weight) can be written by any op, and
// its storage has no hook that would drop the entry. The writes into a weight's memory after it is made are
// MergeLoRA in place (it forgets the entry) and swapSet.Upload (a new Buffer: the key above); Weight and
// cloneWeight make new storages.
//
// Memory: the entry is a buffer of the activation pool (pool.kept), counted in its cached bytes
// (PoolStats.Cached: allocated and in the budget, not in use) while no call uses it and in use while one
// does. pool.trim frees it, so Trim, Close, ReleaseModel (through Trim) and pool.get's out-of-memory retry
// release it: the cache never stands between an allocation and the budget. A call with another key (or one
// that cannot be cached) first returns the entry to the free lists, where its own allocation finds it when
// the sizes share a class (q, k, v and o's operands do). The entry outlives no weight of its key, so no
// model that owns one.

// kcatKey identifies a [W | up] operand (see above).
type kcatKey struct {
	w, up         *storage
	wbuf, upbuf   *Buffer // the storages' buffers when the operand was built
	wtype, uptype gguf.Type
	n, k, r       int
}

// kcatEntry is the cached [W | up] operand: buf (a pool buffer of its size class) holds it for key.
type kcatEntry struct {
	key kcatKey
	buf *Buffer
}

// kcatKeyOf returns the key of the [W | up] operand of W w [N, K] and up [N, r], and whether it may be
// cached: both are weights that are not freed and have memory (a swapped block's weight is bound to a slot).
func kcatKeyOf(w, up *Tensor, N, K, r int) (kcatKey, bool) {
	for _, st := range []*storage{w.st, up.st} {
		if !st.weight || st.freed || st.buf == nil {
			return kcatKey{}, false
		}
	}
	return kcatKey{w: w.st, up: up.st, wbuf: w.st.buf, upbuf: up.st.buf, wtype: w.st.wtype, uptype: up.st.wtype, n: N, k: K, r: r}, true
}

// takeKept returns the cached operand for key, taken out of the cache and counted in use (the caller gives
// it back with keep or put), or nil on a miss; a miss returns the entry, if any, to the free lists. Runs on
// the CUDA goroutine.
func (p *pool) takeKept(key kcatKey) *Buffer {
	e := p.kept
	if e == nil || e.key != key || e.buf.freed {
		p.evictKept()
		return nil
	}
	p.kept = nil
	p.cached -= e.buf.size
	p.took(e.buf.size)
	return e.buf
}

// keep makes buf, a buffer of this pool in use, the cached operand for key; an entry already held goes back
// to the free lists. Runs on the CUDA goroutine.
func (p *pool) keep(key kcatKey, buf *Buffer) {
	p.evictKept()
	if buf == nil || buf.freed {
		return
	}
	p.kept = &kcatEntry{key: key, buf: buf}
	p.inUse -= buf.size
	p.cached += buf.size
}

// evictKept returns the cached operand, if any, to the free lists (it stays in the cached bytes). Stream
// order makes its reuse safe while GEMMs reading it are still queued. Runs on the CUDA goroutine.
func (p *pool) evictKept() {
	e := p.kept
	if e == nil {
		return
	}
	p.kept = nil
	if e.buf.freed {
		p.cached -= e.buf.size
		return
	}
	p.free[e.buf.size] = append(p.free[e.buf.size], e.buf)
}

// forgetKept drops the cached operand when it was built from st (its W or its up): st is being freed,
// unbound from its slot or written. Runs on the CUDA goroutine.
func (p *pool) forgetKept(st *storage) {
	if e := p.kept; e != nil && (e.key.w == st || e.key.up == st) {
		p.evictKept()
	}
}
