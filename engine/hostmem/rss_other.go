//go:build !linux

package hostmem

// PeakRSS is 0 where the platform offers no cheap peak-RSS figure.
func PeakRSS() int64 { return 0 }

// ResetPeakRSS does nothing here: peaks are the process's so far.
func ResetPeakRSS() {}
