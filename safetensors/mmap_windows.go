//go:build windows

package safetensors

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// mapFile maps size bytes of f read-only and returns the mapping and the
// function that releases it (UnmapViewOfFile). Nothing is read from disk until
// a page of the view is touched, and a read-only view of a file is backed by
// the file itself, so it charges nothing against the commit limit, unlike a
// heap copy.
//
// size must be positive: Windows refuses to map an empty file (Open rejects
// files shorter than 8 bytes before mapping). The view holds its own
// references to the file and to the mapping object, so the mapping object's
// handle is closed here and f may be closed as soon as mapFile returns; the
// file stays open until the view is unmapped.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	if size <= 0 {
		return nil, nil, fmt.Errorf("cannot map %d bytes: Windows maps only non-empty files", size)
	}
	n := uint64(size)
	h, err := syscall.CreateFileMapping(syscall.Handle(f.Fd()), nil, syscall.PAGE_READONLY,
		uint32(n>>32), uint32(n), nil)
	if err != nil {
		return nil, nil, os.NewSyscallError("CreateFileMapping", err)
	}
	addr, mapErr := syscall.MapViewOfFile(h, syscall.FILE_MAP_READ, 0, 0, uintptr(size))
	closeErr := syscall.CloseHandle(h) // needed neither after a failed MapViewOfFile nor by the view
	if mapErr != nil {
		return nil, nil, os.NewSyscallError("MapViewOfFile", mapErr)
	}
	if closeErr != nil {
		_ = syscall.UnmapViewOfFile(addr)
		return nil, nil, os.NewSyscallError("CloseHandle", closeErr)
	}
	// SAFETY: addr is the start of a read-only view of exactly size bytes
	// that MapViewOfFile just returned; it is outside the Go heap, so the
	// collector neither moves nor frees it. The slice (and every view Data
	// cuts from it) is valid until the release function unmaps it, which only
	// File.Close calls, after which File drops its reference; File's docs
	// forbid using Data views after Close. Writing through the slice would
	// fault, and File never does. The conversion goes through a pointer to
	// addr because vet rejects unsafe.Pointer(uintptr) for a variable.
	data := unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size)
	return data, func() error { return os.NewSyscallError("UnmapViewOfFile", syscall.UnmapViewOfFile(addr)) }, nil
}
