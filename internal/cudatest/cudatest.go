//go:build cuda

// Package cudatest opens the CUDA backend for the GPU tests of the model packages (built with the cuda
// tag): on a machine without a GPU the test is skipped with the reason, and the backend is closed when the
// test ends.
package cudatest

import (
	"errors"
	"testing"

	"github.com/wan22/wan22/engine/cuda"
)

// Backend returns a CUDA backend on device 0 for the test, or skips it when there is no usable GPU.
func Backend(t testing.TB) *cuda.Backend {
	t.Helper()
	b, err := cuda.NewBackend(cuda.Config{})
	if errors.Is(err, cuda.ErrNoDevice) {
		t.Skipf("no GPU: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the CUDA backend: %v", err)
		}
	})
	return b
}
