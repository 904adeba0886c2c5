//go:build cuda

package cuda

// #include "shim.h"
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// HostKind says how a HostBuffer's memory was obtained.
type HostKind int

const (
	// HostPinned memory comes from cuMemHostAlloc: page-locked, copies run at full PCIe speed and
	// asynchronously.
	HostPinned HostKind = iota
	// HostRegistered memory belongs to the caller and was page-locked with cuMemHostRegister.
	HostRegistered
	// HostPageable memory is an ordinary anonymous mapping: the fallback when pinning is refused. Copies
	// from it are staged by the driver and much slower.
	HostPageable
)

func (k HostKind) String() string {
	switch k {
	case HostPinned:
		return "pinned"
	case HostRegistered:
		return "registered"
	case HostPageable:
		return "pageable"
	}
	return fmt.Sprintf("HostKind(%d)", int(k))
}

// CU_MEMHOSTALLOC_PORTABLE and CU_MEMHOSTREGISTER_{PORTABLE,READ_ONLY}.
const (
	hostAllocPortable    = 0x01
	hostRegisterPortable = 0x01
	hostRegisterReadOnly = 0x08
)

// HostBuffer is host memory for transfers to and from the device. Its memory is outside the Go heap.
type HostBuffer struct {
	d     *Device
	ptr   unsafe.Pointer
	size  int64
	kind  HostKind
	owner string
	mmap  []byte // the mapping of a pageable buffer, or the caller's memory of a registered one
	freed bool
}

// Bytes returns the buffer's memory. It is valid until Free.
func (h *HostBuffer) Bytes() []byte {
	// SAFETY: ptr points at size bytes outside the Go heap (driver-allocated, mmap'd, or the caller's
	// registered memory) that stay mapped until Free.
	return unsafe.Slice((*byte)(h.ptr), h.size)
}

// Size is the buffer's size in bytes.
func (h *HostBuffer) Size() int64 { return h.size }

// Kind says whether the buffer is pinned, registered or pageable.
func (h *HostBuffer) Kind() HostKind { return h.kind }

// Pinned reports whether copies from and to the buffer are DMA transfers (pinned or registered).
func (h *HostBuffer) Pinned() bool { return h.kind != HostPageable }

// AllocPinned allocates size bytes of page-locked host memory for owner. It fails with a *PinError when
// the pinned budget would be exceeded or the driver refuses (for instance a container's locked-memory
// limit).
func (d *Device) AllocPinned(owner string, size int64) (*HostBuffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("cuda: AllocPinned(%q, %d): size must be positive", owner, size)
	}
	var h *HostBuffer
	err := d.Do(func() error {
		if err := d.pinned.reserve(owner, size); err != nil {
			return &PinError{Size: size, Err: err}
		}
		var p unsafe.Pointer
		if err := cuErr(fmt.Sprintf("cuMemHostAlloc(%s)", FormatBytes(size)), C.wan22_host_alloc(&p, C.size_t(size), hostAllocPortable)); err != nil {
			d.pinned.release(owner, size)
			return &PinError{Size: size, Err: err}
		}
		h = &HostBuffer{d: d, ptr: p, size: size, kind: HostPinned, owner: owner}
		d.hosts[h] = struct{}{}
		return nil
	})
	return h, err
}

// AllocHost allocates pinned host memory when it can and falls back to pageable memory when pinning is
// refused, logging the reason once per device. Check Kind or Pinned to see which it got.
func (d *Device) AllocHost(owner string, size int64) (*HostBuffer, error) {
	h, err := d.AllocPinned(owner, size)
	if err == nil {
		return h, nil
	}
	if _, ok := err.(*PinError); !ok {
		return nil, err
	}
	var warn bool
	if e := d.Do(func() error { warn = !d.pinWarn; d.pinWarn = true; return nil }); e != nil {
		return nil, e
	}
	if warn {
		d.log.Warn("pinning host memory refused; using pageable memory (host→device copies will be slower and not asynchronous)", "err", err)
	}
	return d.allocPageable(owner, size)
}

func (d *Device) allocPageable(owner string, size int64) (*HostBuffer, error) {
	m, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("cuda: mapping %s of pageable host memory for %q: %w", FormatBytes(size), owner, err)
	}
	h := &HostBuffer{d: d, ptr: unsafe.Pointer(&m[0]), size: size, kind: HostPageable, owner: owner, mmap: m}
	if err := d.Do(func() error { d.hosts[h] = struct{}{}; return nil }); err != nil {
		_ = syscall.Munmap(m)
		return nil, err
	}
	return h, nil
}

// RegisterHost page-locks existing memory (for instance a memory-mapped file's pages) so that copies from
// it are DMA transfers; it counts against the pinned budget. mem must not be Go-heap memory (use a
// mapping) and must stay mapped until the returned buffer is freed, which unregisters it. readOnly marks
// memory the device will only read (needed for read-only mappings; needs driver support).
func (d *Device) RegisterHost(owner string, mem []byte, readOnly bool) (*HostBuffer, error) {
	size := int64(len(mem))
	if size == 0 {
		return nil, fmt.Errorf("cuda: RegisterHost(%q): empty memory", owner)
	}
	var h *HostBuffer
	err := d.Do(func() error {
		if err := d.pinned.reserve(owner, size); err != nil {
			return &PinError{Size: size, Err: err}
		}
		flags := C.uint(hostRegisterPortable)
		if readOnly {
			flags |= hostRegisterReadOnly
		}
		// SAFETY: mem is caller memory outside the Go heap (documented requirement) that stays mapped until
		// Free unregisters it; the slice is kept in the HostBuffer.
		p := unsafe.Pointer(&mem[0])
		if err := cuErr(fmt.Sprintf("cuMemHostRegister(%s)", FormatBytes(size)), C.wan22_host_register(p, C.size_t(size), flags)); err != nil {
			d.pinned.release(owner, size)
			return &PinError{Size: size, Err: err}
		}
		h = &HostBuffer{d: d, ptr: p, size: size, kind: HostRegistered, owner: owner, mmap: mem}
		d.hosts[h] = struct{}{}
		return nil
	})
	return h, err
}

// Free releases (or unregisters) the buffer. Freeing twice is a no-op. Copies using it must be complete.
func (h *HostBuffer) Free() error {
	if h == nil {
		return nil
	}
	return h.d.Do(h.free)
}

func (h *HostBuffer) free() error {
	if h.freed {
		return nil
	}
	h.freed = true
	delete(h.d.hosts, h)
	var err error
	switch h.kind {
	case HostPinned:
		err = cuErr(fmt.Sprintf("cuMemFreeHost(%s of %q)", FormatBytes(h.size), h.owner), C.wan22_host_free(h.ptr))
		h.d.pinned.release(h.owner, h.size)
	case HostRegistered:
		err = cuErr(fmt.Sprintf("cuMemHostUnregister(%s of %q)", FormatBytes(h.size), h.owner), C.wan22_host_unregister(h.ptr))
		h.d.pinned.release(h.owner, h.size)
	case HostPageable:
		if e := syscall.Munmap(h.mmap); e != nil {
			err = fmt.Errorf("cuda: munmap of %s pageable host memory: %w", FormatBytes(h.size), e)
		}
	}
	h.ptr, h.mmap = nil, nil
	return err
}

// FreeHostOwner frees every host buffer of owner and returns the bytes freed.
func (d *Device) FreeHostOwner(owner string) (int64, error) {
	var freed int64
	err := d.Do(func() error {
		var first error
		for h := range d.hosts {
			if h.owner == owner {
				freed += h.size
				if err := h.free(); err != nil && first == nil {
					first = err
				}
			}
		}
		return first
	})
	return freed, err
}
