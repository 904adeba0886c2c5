package cuda

import (
	"errors"
	"strings"
	"testing"
)

// TestNoDeviceWords: an Open that finds no usable GPU reads, after the
// caller's words, "opening the GPU: no usable NVIDIA GPU: …", not
// "opening the GPU: cuda: no usable NVIDIA GPU: …", and matches
// ErrNoDevice. In a cuda build the error checked is the one NewBackend
// (which the library opens the GPU with, wan22.go) really returns for
// device 99: cuInit's failure without a GPU, the ordinal check with one
// (device.go); a build without the tag has no such path.
func TestNoDeviceWords(t *testing.T) {
	if got, want := ErrNoDevice.Error(), "no usable NVIDIA GPU"; got != want {
		t.Errorf("ErrNoDevice = %q, want %q", got, want)
	}
	b, err := NewBackend(Config{Ordinal: 99})
	switch {
	case errors.Is(err, ErrNotBuilt):
		t.Log("built without the cuda tag: no device path to check")
		return
	case err == nil:
		b.Close()
		t.Skip("device 99 opened")
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("NewBackend(device 99) = %v, want ErrNoDevice", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "no usable NVIDIA GPU: ") || strings.Contains(msg, "cuda: ") || strings.Contains(msg, "\n") {
		t.Errorf("%q: want one line that begins \"no usable NVIDIA GPU: \", without \"cuda: \"", msg)
	}
}
