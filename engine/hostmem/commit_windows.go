//go:build windows

package hostmem

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// memoryStatusEx is MEMORYSTATUSEX, the argument of GlobalMemoryStatusEx
// (x/sys/windows does not wrap it). All sizes are in bytes.
type memoryStatusEx struct {
	length               uint32 // the struct's size, set by the caller
	memoryLoad           uint32 // percent of physical memory in use
	totalPhys            uint64
	availPhys            uint64
	totalPageFile        uint64 // the commit limit: physical memory plus paging files
	availPageFile        uint64 // what can still be committed: commit limit less commit charge
	totalVirtual         uint64
	availVirtual         uint64
	availExtendedVirtual uint64 // always 0
}

// globalMemoryStatusEx comes from the system directory only, never from a
// DLL that happens to sit next to the executable.
var globalMemoryStatusEx = windows.NewLazySystemDLL("kernel32.dll").NewProc("GlobalMemoryStatusEx")

// commitAvailable is the memory Windows can still commit, in bytes, or -1
// when unknown. Windows does not overcommit: a heap allocation beyond it
// fails (the Go runtime dies with "VirtualAlloc ... errno 1455") even when
// physical memory is free, so it bounds what Available reports.
func commitAvailable() int64 {
	if globalMemoryStatusEx.Find() != nil {
		return -1
	}
	var ms memoryStatusEx
	ms.length = uint32(unsafe.Sizeof(ms))
	// SAFETY: &ms is a live MEMORYSTATUSEX with its length field set, which
	// GlobalMemoryStatusEx fills and does not keep; the pointer is converted
	// to uintptr in Call's argument list, and Call is //go:uintptrescapes, so
	// ms stays alive and in place until the call returns.
	if r, _, _ := globalMemoryStatusEx.Call(uintptr(unsafe.Pointer(&ms))); r == 0 {
		return -1
	}
	if ms.availPageFile > 1<<62 {
		return -1
	}
	return int64(ms.availPageFile)
}
