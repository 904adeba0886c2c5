//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"gorgonia.org/cu"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Block swapping (engine.Swapper): a swapped block's matrices (with the LoRA adapters the DiT packs beside
// them at load) live in one pinned host slab laid out exactly as in a device slot (engine.SlabLayout), so
// one cuMemcpyHtoDAsync on the copy stream fills the slot (in staging mode, the adapters' bytes are kept in
// host memory and staged with the block's). The block's weight tensors borrow the slot's memory: Upload
// binds them to the slot (and unbinds the slot's previous occupant, whose tensors then fail loudly if used),
// so the model code is the same for resident and swapped blocks. Fences are events: the copy stream waits for the compute fence of a slot's previous
// occupant before overwriting it, the compute stream waits for the copy's fence before the block's first
// kernel. Nothing blocks the host except the staging fallback (pinned budget too small for the slabs),
// which copies each block from the memory-mapped file into a pinned staging buffer when the buffer's
// previous copy has completed.

var (
	_ engine.Swapper  = (*Backend)(nil)
	_ engine.SwapSet  = (*swapSet)(nil)
	_ blockswap.Timer = (*swapSet)(nil)
)

// fenceRing is the number of events a swap set cycles through for its fences. The schedule holds at most
// two fences per slot (a copy's and a compute fence) and uses each within a few mover calls of its making,
// far fewer than this.
const fenceRing = 64

// SwapBudgets reports the device bytes left in the budget, after returning the activation pool's cached
// buffers and the GEMM scratch to the driver (a model is planned at a stage boundary), and the pinned bytes
// left. It records the driver's free memory as the model's baseline for ReleaseModel.
func (b *Backend) SwapBudgets() (vram, pinned int64, err error) {
	if err := b.Trim(); err != nil {
		return 0, 0, err
	}
	// The device's free memory before the model loads: ReleaseModel checks it comes back.
	if err := b.d.Do(func() error {
		free, _, err := cu.MemInfo()
		if err == nil {
			b.preload[b.owner] = free
		}
		return wrap("cuMemGetInfo", err)
	}); err != nil {
		return 0, 0, err
	}
	m, p := b.d.MemStats(), b.d.PinnedStats()
	// The resident weights' staging ring needs its pinned buffers besides the slabs.
	return max(m.Limit-m.InUse, 0), max(p.Limit-p.InUse-stagingDepth*stagingChunk, 0), nil
}

// NewSwap prepares the slabs (or staging buffers) of plan's swapped blocks under the backend's weight
// owner; slots are allocated by the schedule through NewSlot.
func (b *Backend) NewSwap(plan blockswap.Plan, layouts []engine.SlabLayout) (engine.SwapSet, error) {
	if len(layouts) != len(plan.Resident) {
		return nil, fmt.Errorf("cuda: swap plan for %d blocks, %d layouts", len(plan.Resident), len(layouts))
	}
	// Each fence is used within about 2·Slots+2 fence makings; the ring must be well beyond that.
	if 4*(plan.Slots+1) > fenceRing {
		return nil, fmt.Errorf("cuda: swap plan with %d slots: at most %d are supported", plan.Slots, fenceRing/4-1)
	}
	s := &swapSet{
		b: b, plan: plan, layouts: layouts,
		slabs:   make([]*HostBuffer, len(layouts)),
		src:     make([][][]byte, len(layouts)),
		tensors: make([][]*storage, len(layouts)),
		holder:  map[*devSlot]int{},
		slotOf:  make([]*devSlot, len(layouts)),
	}
	err := b.d.Do(func() error {
		slabs := plan.Staging == 0 && !plan.PageableStaging
		if slabs {
			for i, l := range layouts {
				if plan.Resident[i] {
					continue
				}
				h, err := b.d.AllocPinned(b.owner, l.Bytes)
				if err == nil {
					s.slabs[i] = h
					continue
				}
				var pe *PinError
				if !errors.As(err, &pe) {
					return fmt.Errorf("pinning the slab of block %d (%s): %w", i, FormatBytes(l.Bytes), err)
				}
				// The budget allowed it but the system refused (a locked-memory limit): stream the blocks
				// from the file through staging buffers instead of failing.
				b.d.log.Warn("pinning the swapped blocks' slabs was refused; streaming them from the model file through staging buffers", "err", err)
				var errs []error
				for j, h := range s.slabs {
					if h != nil {
						errs = append(errs, h.free())
						s.slabs[j] = nil
					}
				}
				if err := errors.Join(errs...); err != nil {
					return err
				}
				slabs = false
				break
			}
		}
		if !slabs {
			for range max(plan.Staging, plan.Slots, 2) {
				var h *HostBuffer
				var err error
				if plan.PageableStaging {
					h, err = b.d.allocPageable(b.owner, plan.SlotBytes)
				} else {
					h, err = b.d.AllocHost(b.owner, plan.SlotBytes)
				}
				if err != nil {
					return fmt.Errorf("staging buffer of %s: %w", FormatBytes(plan.SlotBytes), err)
				}
				ev, err := b.d.NewEvent(false)
				if err != nil {
					return errors.Join(err, h.free())
				}
				s.staging = append(s.staging, stagingBuf{h: h, done: ev})
			}
		}
		for range fenceRing {
			ev, err := b.d.NewEvent(false)
			if err != nil {
				return err
			}
			s.fences = append(s.fences, ev)
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("cuda: block swap: %w", err), s.Close())
	}
	return s, nil
}

// swapSet implements engine.SwapSet and blockswap.Mover.
type swapSet struct {
	b       *Backend
	plan    blockswap.Plan
	layouts []engine.SlabLayout

	slabs   []*HostBuffer // per block: its pinned slab (swapped blocks, slab mode)
	src     [][][]byte    // per block and layout entry: the file's bytes (staging mode)
	tensors [][]*storage  // per block and layout entry: the borrowed weight storages
	staging []stagingBuf  // staging mode: buffers filled from the file in turn
	next    int           // the staging buffer to fill next

	slots  []*devSlot
	holder map[*devSlot]int // the block each slot holds (absent: none)
	slotOf []*devSlot       // the slot each block is in (nil: none)

	fences []*Event
	fence  int

	mu      sync.Mutex
	copyT   time.Duration
	waitT   time.Duration
	pending []timedSpan // timing event pairs not yet read
	spare   []timedSpan
	closed  bool
}

type stagingBuf struct {
	h    *HostBuffer
	done *Event // the last copy out of h
	used bool
}

// timedSpan is a pair of timing events around a copy (wait = false) or a compute stream's wait.
type timedSpan struct {
	start, end *Event
	wait       bool
}

type devSlot struct{ buf *Buffer }

func (s *devSlot) Bytes() int64 { return s.buf.size }

// Backend returns the view block i's weights are loaded through.
func (s *swapSet) Backend(i int) engine.Backend {
	return &slabBackend{Backend: s.b, set: s, block: i}
}

// slabBackend loads a swapped block: its layout's tensors go into the slab, the rest is made as usual.
type slabBackend struct {
	*Backend
	set   *swapSet
	block int
}

// RetainsSource reports whether the block is read from the file at every upload (staging mode), so the
// loader must not evict its bytes.
func (v *slabBackend) RetainsSource() bool { return v.set.slabs[v.block] == nil }

// Weight copies a tensor of the block's layout into its slab (or, in staging mode, keeps the file's bytes)
// and returns a weight that borrows the slot holding the block; other tensors are ordinary weights.
func (v *slabBackend) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	s := v.set
	l := s.layouts[v.block]
	k := -1
	for j, t := range l.Tensors {
		if t.Name == info.Name {
			k = j
			break
		}
	}
	if k < 0 {
		return v.Backend.Weight(info, data)
	}
	var w *Tensor
	v.run("Weight", func() error {
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			shape[i] = int(d)
		}
		e := l.Tensors[k]
		if int64(len(data)) != e.Bytes {
			return fmt.Errorf("tensor %q: %d bytes, the slab layout has %d", info.Name, len(data), e.Bytes)
		}
		if !CanDequantize(info.Type) {
			return fmt.Errorf("tensor %q: ggml type %v has no GPU kernel", info.Name, info.Type)
		}
		if s.tensors[v.block] == nil {
			s.tensors[v.block] = make([]*storage, len(l.Tensors))
			s.src[v.block] = make([][]byte, len(l.Tensors))
		}
		if h := s.slabs[v.block]; h != nil {
			parallelCopy(h.Bytes()[e.Offset:e.Offset+e.Bytes], data)
		} else {
			s.src[v.block][k] = data // read at each upload: the file stays mapped (FromFile)
		}
		st := &storage{size: e.Bytes, weight: true, wtype: info.Type, owner: v.owner, borrowed: true}
		s.tensors[v.block][k] = st
		v.weights[st] = struct{}{}
		w = &Tensor{shape: shape, st: st}
		return nil
	})
	return w
}

// Loaded checks that every swapped block's layout was filled.
func (s *swapSet) Loaded() error {
	for i, l := range s.layouts {
		if s.plan.Resident[i] {
			continue
		}
		for j, t := range l.Tensors {
			if s.tensors[i] == nil || s.tensors[i][j] == nil {
				return fmt.Errorf("cuda: block swap: tensor %q of swapped block %d was never loaded", t.Name, i)
			}
		}
	}
	return nil
}

// FromFile reports whether uploads read the model file (staging mode).
func (s *swapSet) FromFile() bool { return len(s.staging) > 0 }

// HostBytes is the host memory held by the slabs or staging buffers.
func (s *swapSet) HostBytes() int64 {
	var n int64
	for _, h := range s.slabs {
		if h != nil {
			n += h.size
		}
	}
	for _, st := range s.staging {
		n += st.h.size
	}
	return n
}

// NewSlot allocates a device slot under the model's owner.
func (s *swapSet) NewSlot(n int64) (blockswap.Slot, error) {
	buf, err := s.b.d.Alloc(s.b.owner, n)
	if err != nil {
		return nil, err
	}
	sl := &devSlot{buf: buf}
	s.slots = append(s.slots, sl)
	return sl, nil
}

// FreeSlot releases a slot; its occupant's tensors are unbound. cuMemFree orders itself after the work
// queued on the device.
func (s *swapSet) FreeSlot(x blockswap.Slot) error {
	sl, ok := x.(*devSlot)
	if !ok {
		return fmt.Errorf("cuda: FreeSlot: not a CUDA slot (%T)", x)
	}
	return s.b.d.Do(func() error {
		// Copies into the slot or kernels reading it may still be queued (after a cancel, say).
		if err := s.b.d.Synchronize(); err != nil {
			return errors.Join(err, sl.buf.free())
		}
		if blk, ok := s.holder[sl]; ok {
			s.unbind(blk)
			delete(s.holder, sl)
		}
		for i, o := range s.slots {
			if o == sl {
				s.slots = append(s.slots[:i], s.slots[i+1:]...)
				break
			}
		}
		return sl.buf.free()
	})
}

// nextFence returns the next event of the ring. Runs on the CUDA goroutine.
func (s *swapSet) nextFence() *Event {
	e := s.fences[s.fence%len(s.fences)]
	s.fence++
	return e
}

// Upload queues the copy of block's slab into slot on the copy stream, after the fence `after`.
func (s *swapSet) Upload(x blockswap.Slot, block int, after blockswap.Fence) (blockswap.Fence, error) {
	sl, ok := x.(*devSlot)
	if !ok {
		return nil, fmt.Errorf("cuda: Upload: not a CUDA slot (%T)", x)
	}
	if block < 0 || block >= len(s.layouts) || s.plan.Resident[block] {
		return nil, fmt.Errorf("cuda: Upload: block %d is not a swapped block", block)
	}
	l := s.layouts[block]
	if l.Bytes > sl.buf.size {
		return nil, fmt.Errorf("cuda: Upload: block %d (%s) does not fit a slot of %s", block, FormatBytes(l.Bytes), FormatBytes(sl.buf.size))
	}
	var ready *Event
	err := s.b.d.Do(func() error {
		d := s.b.d
		cp := d.copy
		if after != nil {
			ev, ok := after.(*Event)
			if !ok {
				return fmt.Errorf("cuda: Upload: not a CUDA fence (%T)", after)
			}
			if err := wrap("cuStreamWaitEvent(copy)", cp.s.Wait(ev.ev, 0)); err != nil {
				return err
			}
		}
		// The slot's previous occupant is released: its deferred readers run now, then it is unbound. Only
		// the blocks' matrices (and their LoRA adapters) are borrowed and no deferred LayerNorm reads a matrix,
		// so there are none today; if there were, their kernels would be queued on the compute stream after
		// `after`, and the copy must wait for them too.
		if prev, ok := s.holder[sl]; ok {
			pending := false
			for _, st := range s.tensors[prev] {
				pending = pending || (st != nil && len(st.deps) > 0)
			}
			s.unbind(prev)
			if pending {
				settled := s.nextFence()
				if err := wrap("cuEventRecord(compute)", settled.ev.Record(d.compute.s)); err != nil {
					return err
				}
				if err := wrap("cuStreamWaitEvent(copy)", cp.s.Wait(settled.ev, 0)); err != nil {
					return err
				}
			}
		}
		if old := s.slotOf[block]; old != nil && old != sl {
			delete(s.holder, old)
		}
		span := s.span(false)
		ok := false
		defer func() {
			if !ok {
				s.dropSpan(span)
			}
		}()
		// startSpan marks the copy's start on the copy stream, just before the transfer is queued (after the
		// staging fallback's host copy, which is not transfer time).
		startSpan := func() error { return s.startSpan(span, cp) }
		if h := s.slabs[block]; h != nil {
			if err := startSpan(); err != nil {
				return err
			}
			if err := d.CopyHtoD(cp, sl.buf.Mem(), h, 0, l.Bytes); err != nil {
				return err
			}
		} else if err := s.stage(sl, block, startSpan); err != nil {
			return err
		}
		ready = s.nextFence()
		if err := wrap("cuEventRecord(copy)", ready.ev.Record(cp.s)); err != nil {
			return err
		}
		if err := s.endSpan(span, cp); err != nil {
			return err
		}
		ok = true
		s.holder[sl] = block
		s.slotOf[block] = sl
		for j, st := range s.tensors[block] {
			st.buf = &Buffer{d: d, ptr: sl.buf.ptr + cu.DevicePtr(l.Tensors[j].Offset), size: l.Tensors[j].Bytes, owner: st.owner}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ready, nil
}

// stage copies block from the file into the next staging buffer (once that buffer's previous copy has
// completed) and queues the copy into the slot. Runs on the CUDA goroutine.
func (s *swapSet) stage(sl *devSlot, block int, beforeCopy func() error) error {
	sb := &s.staging[s.next%len(s.staging)]
	s.next++
	if sb.used {
		if err := wrap("cuEventSynchronize(staging)", sb.done.ev.Synchronize()); err != nil {
			return err
		}
	}
	l := s.layouts[block]
	host := sb.h.Bytes()
	for j, t := range l.Tensors {
		parallelCopy(host[t.Offset:t.Offset+t.Bytes], s.src[block][j])
	}
	if err := beforeCopy(); err != nil {
		return err
	}
	if err := s.b.d.CopyHtoD(s.b.d.copy, sl.buf.Mem(), sb.h, 0, l.Bytes); err != nil {
		return err
	}
	sb.used = true
	return wrap("cuEventRecord(staging)", sb.done.ev.Record(s.b.d.copy.s))
}

// unbind detaches block's tensors from their slot after running the deferred computations that read
// them. Runs on the CUDA goroutine.
func (s *swapSet) unbind(block int) {
	for _, st := range s.tensors[block] {
		if st != nil {
			s.b.settle(st)
			s.b.pool.forgetKept(st) // a cached [W | up] of the block's weights goes back to the pool
			st.buf = nil
		}
	}
	s.slotOf[block] = nil
}

// Wait makes the compute stream wait for f.
func (s *swapSet) Wait(f blockswap.Fence) error {
	ev, ok := f.(*Event)
	if !ok {
		return fmt.Errorf("cuda: Wait: not a CUDA fence (%T)", f)
	}
	return s.b.d.Do(func() error {
		c := s.b.d.compute
		span := s.span(true)
		ok := false
		defer func() {
			if !ok {
				s.dropSpan(span)
			}
		}()
		if err := s.startSpan(span, c); err != nil {
			return err
		}
		if err := wrap("cuStreamWaitEvent(compute)", c.s.Wait(ev.ev, 0)); err != nil {
			return err
		}
		if err := s.endSpan(span, c); err != nil {
			return err
		}
		ok = true
		return nil
	})
}

// Done records a fence at the end of the compute work queued so far.
func (s *swapSet) Done() (blockswap.Fence, error) {
	var e *Event
	err := s.b.d.Do(func() error {
		e = s.nextFence()
		return wrap("cuEventRecord(compute)", e.ev.Record(s.b.d.compute.s))
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// span returns a pair of timing events (nil when they cannot be made: timing is best effort). Runs on
// the CUDA goroutine.
func (s *swapSet) span(wait bool) *timedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.spare); n > 0 {
		sp := s.spare[n-1]
		s.spare = s.spare[:n-1]
		sp.wait = wait
		return &sp
	}
	if len(s.pending) > 4*fenceRing {
		return nil // nobody reads the times: stop timing rather than grow
	}
	a, err := s.b.d.NewEvent(true)
	if err != nil {
		return nil
	}
	z, err := s.b.d.NewEvent(true)
	if err != nil {
		_ = a.destroy()
		return nil
	}
	return &timedSpan{start: a, end: z, wait: wait}
}

// startSpan records a span's start on st (nothing for a nil span). Runs on the CUDA goroutine.
func (s *swapSet) startSpan(sp *timedSpan, st *Stream) error {
	if sp == nil {
		return nil
	}
	return wrap("cuEventRecord("+st.name+")", sp.start.ev.Record(st.s))
}

// endSpan records a span's end on st and queues it for Times (nothing for a nil span). Runs on the CUDA
// goroutine.
func (s *swapSet) endSpan(sp *timedSpan, st *Stream) error {
	if sp == nil {
		return nil
	}
	if err := wrap("cuEventRecord("+st.name+")", sp.end.ev.Record(st.s)); err != nil {
		return err
	}
	s.mu.Lock()
	s.pending = append(s.pending, *sp)
	s.mu.Unlock()
	return nil
}

// dropSpan returns an unused span's events to the pool (an operation failed before the span was queued).
func (s *swapSet) dropSpan(sp *timedSpan) {
	if sp == nil {
		return
	}
	s.mu.Lock()
	s.spare = append(s.spare, *sp)
	s.mu.Unlock()
}

// Times returns the device time spent copying blocks and the time the compute stream waited for copies,
// over the spans that have completed so far.
func (s *swapSet) Times() (copyT, waited time.Duration) {
	_ = s.b.d.Do(func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		keep := s.pending[:0]
		for _, sp := range s.pending {
			if done, err := sp.end.Done(); err != nil || !done {
				keep = append(keep, sp)
				continue
			}
			if dt, err := sp.start.Elapsed(sp.end); err == nil {
				if sp.wait {
					s.waitT += dt
				} else {
					s.copyT += dt
				}
			}
			s.spare = append(s.spare, sp)
		}
		s.pending = keep
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyT, s.waitT
}

// Close releases every slab, staging buffer, slot and event of the set; the borrowed tensors are unbound.
// It waits for the device first, so no copy still reads a slab.
func (s *swapSet) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.b.d.Do(func() error {
		errs := []error{s.b.d.Synchronize()}
		for i := range s.tensors {
			s.unbind(i)
		}
		for _, sl := range s.slots {
			errs = append(errs, sl.buf.free())
		}
		s.slots, s.holder = nil, map[*devSlot]int{}
		for i, h := range s.slabs {
			if h != nil {
				errs = append(errs, h.free())
				s.slabs[i] = nil
			}
		}
		for _, sb := range s.staging {
			errs = append(errs, sb.h.free(), sb.done.destroy())
		}
		s.staging = nil
		for _, e := range s.fences {
			errs = append(errs, e.destroy())
		}
		s.fences = nil
		for _, sp := range append(s.pending, s.spare...) {
			errs = append(errs, sp.start.destroy(), sp.end.destroy())
		}
		s.pending, s.spare = nil, nil
		return errors.Join(errs...)
	})
}

// parallelCopy copies src into dst (equal lengths) with a few goroutines for large copies: one core
// copies from the page cache at a fraction of the memory bandwidth.
func parallelCopy(dst, src []byte) {
	const piece = 32 << 20
	if len(src) <= piece {
		copy(dst, src)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for off := 0; off < len(src); off += piece {
		end := min(off+piece, len(src))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			copy(dst[off:end], src[off:end])
			<-sem
		}()
	}
	wg.Wait()
}
