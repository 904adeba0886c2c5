//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Buffer is one device allocation, accounted to an owner.
type Buffer struct {
	d     *Device
	ptr   cu.DevicePtr
	size  int64
	owner string
	freed bool
}

// Mem returns the whole buffer as a Mem.
func (b *Buffer) Mem() Mem { return Mem{Ptr: uintptr(b.ptr), Bytes: b.size} }

// Size is the buffer's size in bytes.
func (b *Buffer) Size() int64 { return b.size }

// Owner is the owner the buffer is accounted to.
func (b *Buffer) Owner() string { return b.owner }

// Alloc allocates size bytes of device memory for owner. It fails with a *BudgetError (before asking the
// driver) when the device budget would be exceeded, and with an *Error when the driver refuses.
// Allocations are 256-byte aligned.
func (d *Device) Alloc(owner string, size int64) (*Buffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("cuda: Alloc(%q, %d): size must be positive", owner, size)
	}
	var b *Buffer
	err := d.Do(func() error {
		if err := d.mem.reserve(owner, size); err != nil {
			return err
		}
		p, err := cu.MemAlloc(size)
		if err != nil {
			d.mem.release(owner, size)
			e := wrap(fmt.Sprintf("cuMemAlloc(%s) for %q", FormatBytes(size), owner), err)
			var ce *Error
			if errors.As(e, &ce) && ce.Code == cuOutOfMemory {
				return fmt.Errorf("%w; the budget allowed it, so other processes or libraries use the GPU: lower Config.MemCap or raise Config.Reserve", e)
			}
			return e
		}
		b = &Buffer{d: d, ptr: p, size: size, owner: owner}
		d.buffers[b] = struct{}{}
		return nil
	})
	return b, err
}

// Free releases the buffer. Freeing twice is a no-op.
func (b *Buffer) Free() error {
	if b == nil {
		return nil
	}
	return b.d.Do(b.free)
}

func (b *Buffer) free() error {
	if b.freed {
		return nil
	}
	b.freed = true
	delete(b.d.buffers, b)
	err := wrap(fmt.Sprintf("cuMemFree(%s of %q)", FormatBytes(b.size), b.owner), cu.MemFree(b.ptr))
	b.d.mem.release(b.owner, b.size)
	return err
}

// FreeOwner frees every device buffer of owner and returns the bytes freed. Afterwards the owner holds
// no device memory in the budget's accounts; an error says which frees failed.
func (d *Device) FreeOwner(owner string) (int64, error) {
	var freed int64
	err := d.Do(func() error {
		var errs []error
		for b := range d.buffers {
			if b.owner == owner {
				freed += b.size
				errs = append(errs, b.free())
			}
		}
		if left := d.mem.owned(owner); left != 0 {
			errs = append(errs, fmt.Errorf("cuda: FreeOwner(%q): %d bytes still accounted after freeing", owner, left))
		}
		return errors.Join(errs...)
	})
	return freed, err
}

// MemStats reports the device-memory budget's use.
func (d *Device) MemStats() MemStats { return d.mem.stats() }

// PinnedStats reports the pinned-host-memory budget's use.
func (d *Device) PinnedStats() MemStats { return d.pinned.stats() }

// ResetPeak sets both budgets' peaks to their current use.
func (d *Device) ResetPeak() {
	d.mem.resetPeak()
	d.pinned.resetPeak()
}

// MemInfo returns the driver's view of free and total device memory (all processes).
func (d *Device) MemInfo() (free, total int64, err error) {
	err = d.Do(func() error {
		var e error
		free, total, e = cu.MemInfo()
		return wrap("cuMemGetInfo", e)
	})
	return
}

// Upload copies src from Go memory into dst, synchronously: it first waits for all work on the device.
func (d *Device) Upload(dst Mem, src []byte) error {
	if err := need("Upload destination", dst, int64(len(src))); err != nil || len(src) == 0 {
		return err
	}
	return d.Do(func() error {
		if err := asyncErr(wrap("cuCtxSynchronize", cu.Synchronize())); err != nil {
			return err
		}
		// SAFETY: src is Go memory pinned for the duration of this synchronous call by cgo's rules; the
		// driver does not keep the pointer.
		return wrap(fmt.Sprintf("cuMemcpyHtoD(%s)", FormatBytes(int64(len(src)))),
			cu.MemcpyHtoD(cu.DevicePtr(dst.Ptr), unsafe.Pointer(&src[0]), int64(len(src))))
	})
}

// Download copies src into Go memory dst, synchronously: it first waits for all work on the device.
func (d *Device) Download(dst []byte, src Mem) error {
	if err := need("Download source", src, int64(len(dst))); err != nil || len(dst) == 0 {
		return err
	}
	return d.Do(func() error {
		if err := asyncErr(wrap("cuCtxSynchronize", cu.Synchronize())); err != nil {
			return err
		}
		// SAFETY: as in Upload; the copy completes before the call returns.
		return wrap(fmt.Sprintf("cuMemcpyDtoH(%s)", FormatBytes(int64(len(dst)))),
			cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src.Ptr), int64(len(dst))))
	})
}

// UploadF32 is Upload for float32 data.
func (d *Device) UploadF32(dst Mem, src []float32) error { return d.Upload(dst, f32Bytes(src)) }

// DownloadF32 is Download into float32 data.
func (d *Device) DownloadF32(dst []float32, src Mem) error { return d.Download(f32Bytes(dst), src) }

// UploadU16 is Upload for 16-bit data (bf16, f16 bit patterns).
func (d *Device) UploadU16(dst Mem, src []uint16) error { return d.Upload(dst, u16Bytes(src)) }

// DownloadU16 is Download into 16-bit data.
func (d *Device) DownloadU16(dst []uint16, src Mem) error { return d.Download(u16Bytes(dst), src) }

func f32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	// SAFETY: a float32 slice viewed as its bytes; same backing array, length in bytes, no pointers inside.
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4)
}

func u16Bytes(s []uint16) []byte {
	if len(s) == 0 {
		return nil
	}
	// SAFETY: as f32Bytes, for uint16.
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*2)
}

// Memset32 fills dst (whose size must be a multiple of 4) with the 32-bit pattern v, asynchronously on s
// (nil: the compute stream).
func (d *Device) Memset32(s *Stream, dst Mem, v uint32) error {
	if err := need("Memset32", dst, 4); err != nil {
		return err
	}
	if dst.Bytes%4 != 0 || dst.Ptr%4 != 0 {
		return fmt.Errorf("cuda: Memset32: %d bytes at %#x is not whole aligned words", dst.Bytes, dst.Ptr)
	}
	return d.Do(func() error {
		return wrap("cuMemsetD32Async", cu.MemsetD32Async(cu.DevicePtr(dst.Ptr), uint(v), dst.Bytes/4, d.stream(s).s))
	})
}

// Memset16 fills dst (whose size must be a multiple of 2) with the 16-bit pattern v, asynchronously on s.
func (d *Device) Memset16(s *Stream, dst Mem, v uint16) error {
	if err := need("Memset16", dst, 2); err != nil {
		return err
	}
	if dst.Bytes%2 != 0 || dst.Ptr%2 != 0 {
		return fmt.Errorf("cuda: Memset16: %d bytes at %#x is not whole aligned half-words", dst.Bytes, dst.Ptr)
	}
	return d.Do(func() error {
		return wrap("cuMemsetD16Async", cu.MemsetD16Async(cu.DevicePtr(dst.Ptr), v, dst.Bytes/2, d.stream(s).s))
	})
}
