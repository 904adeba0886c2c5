//go:build windows

package main

import (
	"math"

	"golang.org/x/sys/windows"
)

// freeBytes returns the bytes the user may still write on the volume holding
// dir (GetDiskFreeSpaceExW's count for the caller, which a disk quota
// lowers). ok is false when the platform cannot tell.
func freeBytes(dir string) (free int64, ok bool, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, false, err
	}
	var avail, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &totalFree); err != nil {
		return 0, false, err
	}
	return int64(min(avail, math.MaxInt64)), true, nil
}
