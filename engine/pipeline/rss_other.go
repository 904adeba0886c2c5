//go:build !linux

package pipeline

// peakRSS is 0 where the platform offers no cheap peak-RSS figure.
func peakRSS() int64 { return 0 }
