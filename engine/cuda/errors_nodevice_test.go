package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestNoDeviceWords: an Open that finds no usable GPU reads, after the
// caller's words, "opening the GPU: no usable NVIDIA GPU: …", not
// "opening the GPU: cuda: no usable NVIDIA GPU: …", and still matches
// ErrNoDevice, however it is wrapped.
func TestNoDeviceWords(t *testing.T) {
	if got, want := ErrNoDevice.Error(), "no usable NVIDIA GPU"; got != want {
		t.Errorf("ErrNoDevice = %q, want %q", got, want)
	}
	// As Open wraps it (device.go), and the library after it (wan22.go).
	open := fmt.Errorf("%w: the driver reports 0 devices; check nvidia-smi, or use the CPU backend", ErrNoDevice)
	err := fmt.Errorf("wan22: opening the GPU: %w", open)
	if !errors.Is(err, ErrNoDevice) {
		t.Errorf("%v does not match ErrNoDevice", err)
	}
	if msg := err.Error(); strings.Contains(msg, "cuda: ") || strings.Contains(msg, "\n") ||
		msg != "wan22: opening the GPU: no usable NVIDIA GPU: the driver reports 0 devices; check nvidia-smi, or use the CPU backend" {
		t.Errorf("%q: want one line, without \"cuda: \"", msg)
	}
}
