//go:build cuda

package cuda

import (
	"errors"
	"fmt"

	"gorgonia.org/cu"
)

// Resident weights reach the device through a ring of pinned staging buffers: the loader's bytes (a
// memory-mapped file) are copied into one buffer while the previous buffer's DMA transfer runs, at the
// pinned copy speed instead of the driver's pageable path (about 5 GB/s). The ring is made on the first
// large weight and released by Trim, so it holds pinned memory only while a model loads.

const (
	stagingOwner = "cuda.staging"
	stagingChunk = 64 << 20 // bytes per staging buffer
	stagingDepth = 2        // buffers in the ring
	// stagedMin is the smallest weight worth staging; smaller ones take the driver's pageable path.
	stagedMin = 1 << 20
)

type stageBuf struct {
	h    *HostBuffer
	done *Event // the last copy out of h
	used bool
}

// staging is the backend's ring; nil until first used, or when pinning was refused.
type staging struct {
	bufs []stageBuf
	next int
}

// stageIn copies data into dst through the pinned staging ring, on the compute stream (the weights are
// read by the kernels queued after it). It returns false when no ring could be made (the caller copies
// from pageable memory). Runs on the CUDA goroutine.
func (b *Backend) stageIn(dst Mem, data []byte) (bool, error) {
	if int64(len(data)) < stagedMin || b.stageRefused {
		return false, nil
	}
	if b.stage == nil {
		st := &staging{}
		for range stagingDepth {
			h, err := b.d.AllocPinned(stagingOwner, stagingChunk)
			if err == nil {
				var ev *Event
				if ev, err = b.d.NewEvent(false); err == nil {
					st.bufs = append(st.bufs, stageBuf{h: h, done: ev})
					continue
				}
				_ = h.free()
			}
			b.stageRefused = true
			b.d.log.Warn("no pinned staging buffers; weights are copied from pageable memory", "err", err)
			return false, errors.Join(nil, b.freeStaging(st))
		}
		b.stage = st
	}
	st, c := b.stage, b.d.compute
	for off := 0; off < len(data); off += stagingChunk {
		n := min(stagingChunk, len(data)-off)
		sb := &st.bufs[st.next%len(st.bufs)]
		st.next++
		if sb.used {
			if err := wrap("cuEventSynchronize(staging)", sb.done.ev.Synchronize()); err != nil {
				return true, err
			}
		}
		parallelCopy(sb.h.Bytes()[:n], data[off:off+n])
		part := Mem{Ptr: dst.Ptr + uintptr(off), Bytes: int64(n)}
		if err := b.d.CopyHtoD(c, part, sb.h, 0, int64(n)); err != nil {
			return true, err
		}
		if err := wrap("cuEventRecord(staging)", sb.done.ev.Record(c.s)); err != nil {
			return true, err
		}
		sb.used = true
	}
	return true, nil
}

// freeStaging waits for the ring's copies and releases it. Runs on the CUDA goroutine.
func (b *Backend) freeStaging(st *staging) error {
	if st == nil {
		return nil
	}
	var errs []error
	for _, sb := range st.bufs {
		if sb.used {
			errs = append(errs, wrap("cuEventSynchronize(staging)", sb.done.ev.Synchronize()))
		}
		errs = append(errs, sb.h.free(), sb.done.destroy())
	}
	if st == b.stage {
		b.stage = nil
	}
	return errors.Join(errs...)
}

// ReleaseModel frees every device and pinned byte of owner (weights, slots, slabs), the activation pool's
// cached buffers, the GEMM scratch and the staging ring, and checks what is left: an error when the budget's
// own accounts still hold device memory for owner, or pinned memory for owner or the staging ring. It also
// reports the driver's free memory (cuMemGetInfo) against a baseline: for a model planned through
// SwapBudgets (the DiT experts) the free memory before the model loaded, else the free memory when the
// backend opened. The driver counts every process on the GPU (a desktop's compositor and browser come and
// go) and the kernel modules and library workspaces loaded on first use, so a gap above ReleaseTolerance is
// logged as a warning with both numbers rather than failing the run; callers that own the GPU (the
// device benchmarks) check Gap themselves. A model's SwapSet must have been closed (Model.Free does it).
func (b *Backend) ReleaseModel(owner string) (ReleaseReport, error) {
	var strict bool
	r := ReleaseReport{FreeBefore: b.freeAtOpen}
	_ = b.d.Do(func() error {
		if v, ok := b.preload[owner]; ok {
			r.FreeBefore, strict = v, true
			delete(b.preload, owner)
		}
		return nil
	})
	var errs []error
	freed, err := b.FreeOwner(owner)
	r.Freed = freed
	errs = append(errs, err)
	_, err = b.d.FreeHostOwner(owner)
	errs = append(errs, err, b.Trim())
	errs = append(errs, b.d.Do(func() error {
		errs := []error{b.d.Synchronize()}
		free, _, err := cu.MemInfo()
		r.FreeAfter = free
		return errors.Join(append(errs, wrap("cuMemGetInfo", err))...)
	}))
	pinned := b.d.PinnedStats().ByOwner
	r.Pinned = pinned[owner] + pinned[stagingOwner]
	r.Gap = r.FreeBefore - r.FreeAfter
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if left := b.d.MemStats().ByOwner[owner]; left != 0 {
		return r, fmt.Errorf("cuda: after releasing %q it still holds %s of device memory", owner, FormatBytes(left))
	}
	if r.Pinned != 0 {
		return r, fmt.Errorf("cuda: after releasing %q, %s of pinned host memory is still held", owner, FormatBytes(r.Pinned))
	}
	if strict && r.Gap > ReleaseTolerance {
		b.d.log.Warn("device free memory did not come back to where it was before the model loaded",
			"model", owner, "free_before", FormatBytes(r.FreeBefore), "free_after", FormatBytes(r.FreeAfter),
			"gap", FormatBytes(r.Gap), "tolerance", FormatBytes(ReleaseTolerance))
	}
	return r, nil
}

// PinnedStats reports the pinned host-memory budget's use, per owner (each model's slabs, cuda.staging).
func (b *Backend) PinnedStats() MemStats { return b.d.PinnedStats() }

// DeviceBudget reports the device budget's limit and the bytes allocated under it now, cached activations
// included (engine/pipeline sizes the VAE's tiles and the text encoder's streaming from it). It has no side
// effects.
func (b *Backend) DeviceBudget() (limit, inUse int64) {
	m := b.d.MemStats()
	return m.Limit, m.InUse
}
