//go:build cuda

package cuda

import (
	"errors"
	"math/bits"
)

// pool is a caching allocator for activations on top of Device.Alloc: freed buffers go to a free list of
// their size class and are handed out again, so that the steady state of a forward pass makes no
// cuMemAlloc or cuMemFree (cuMemFree synchronizes the device). Every byte it holds, cached or in use, stays
// allocated under its owner and so counts against the device budget; trim returns the cached bytes.
//
// Buffers are reused in stream order: all work that uses pool memory runs on the compute stream, so a
// buffer put back while kernels reading it are still queued is only written by kernels queued after them.
//
// It also holds run-time LoRA's [W | up] cache (kept, lora_kcat_cache.go): a buffer of the pool counted in
// its cached bytes, which trim frees with the free lists, get's out-of-memory retry included.
//
// A pool is used on the CUDA goroutine only.
type pool struct {
	d      *Device
	owner  string
	free   map[int64][]*Buffer // by size class
	cached int64               // bytes in the free lists and in kept
	kept   *kcatEntry          // the cached [W | up] operand (lora_kcat_cache.go); nil: none
	inUse  int64               // bytes handed out (size classes)
	peak   int64               // the most inUse has been since the last resetPeak
	hits   int64               // requests served from a free list
	misses int64               // requests that allocated
}

func newPool(d *Device, owner string) *pool {
	return &pool{d: d, owner: owner, free: map[int64][]*Buffer{}}
}

// poolClass is the size class of a request of n bytes: powers of two up to 1 MiB, then eight classes per
// octave, so a buffer wastes at most 12.5% of its size above 1 MiB.
func poolClass(n int64) int64 {
	if n <= 256 {
		return 256
	}
	e := bits.Len64(uint64(n - 1)) // 2^(e-1) < n ≤ 2^e
	if n <= 1<<20 {
		return 1 << e
	}
	step := int64(1) << (e - 4)
	return (n + step - 1) / step * step
}

// get returns a buffer of at least n bytes. When the budget or the driver refuses, it returns the cached
// buffers (the [W | up] cache's too) to the driver and tries once more. Runs on the CUDA goroutine.
func (p *pool) get(n int64) (*Buffer, error) {
	c := poolClass(n)
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[c] = l[:len(l)-1]
		p.cached -= c
		p.hits++
		p.took(c)
		return b, nil
	}
	b, err := p.d.Alloc(p.owner, c)
	if err != nil && outOfMemory(err) && p.cached > 0 {
		if terr := p.trim(); terr != nil {
			return nil, errors.Join(err, terr)
		}
		b, err = p.d.Alloc(p.owner, c)
	}
	if err != nil {
		return nil, err
	}
	p.misses++
	p.took(c)
	return b, nil
}

func (p *pool) took(c int64) {
	p.inUse += c
	if p.inUse > p.peak {
		p.peak = p.inUse
	}
}

// put returns a buffer to its free list. Runs on the CUDA goroutine.
func (p *pool) put(b *Buffer) {
	if b == nil || b.freed {
		return
	}
	p.free[b.size] = append(p.free[b.size], b)
	p.cached += b.size
	p.inUse -= b.size
}

// trim frees every cached buffer, the [W | up] cache's included, after the compute stream has finished the
// work that may still use them. Runs on the CUDA goroutine.
func (p *pool) trim() error {
	if p.cached == 0 {
		return nil
	}
	if err := asyncErr(wrap("cuStreamSynchronize(compute)", p.d.stream(nil).s.Synchronize())); err != nil {
		return err
	}
	var errs []error
	if p.kept != nil {
		errs = append(errs, p.kept.buf.free())
		p.kept = nil
	}
	for c, l := range p.free {
		for _, b := range l {
			errs = append(errs, b.free())
		}
		delete(p.free, c)
	}
	p.cached = 0
	return errors.Join(errs...)
}

func (p *pool) stats() PoolStats {
	return PoolStats{InUse: p.inUse, Cached: p.cached, Peak: p.peak, Hits: p.hits, Misses: p.misses}
}

// outOfMemory reports whether an allocation failed for want of memory (budget or driver).
func outOfMemory(err error) bool {
	var ce *Error
	return errors.Is(err, ErrOutOfBudget) || (errors.As(err, &ce) && ce.Code == cuOutOfMemory)
}
