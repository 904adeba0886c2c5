//go:build linux

package hostmem

import (
	"bytes"
	"os"
	"strconv"
)

// PeakRSS is the process's peak resident set in bytes (VmHWM in
// /proc/self/status), or 0 when it cannot be read.
func PeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "123456 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// ResetPeakRSS starts a new peak resident set at the current one (writing 5
// to /proc/self/clear_refs), so that each of several runs in one process
// reports its own peak. It is best effort.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
