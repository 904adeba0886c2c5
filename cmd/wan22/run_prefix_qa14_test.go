package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunFailedLibraryPrefix: a run error from the library, which starts
// with its package's name ("wan22: opening the GPU: …", as a CUDA binary
// without a GPU says), is printed once after the command's own prefix:
// it read 'wan22 demo: wan22: opening the GPU: …'. An error of the CLI's
// own is printed as it is.
func TestRunFailedLibraryPrefix(t *testing.T) {
	for _, c := range []struct{ err, want string }{
		{"wan22: opening the GPU: no usable NVIDIA GPU", "wan22 demo: opening the GPU: no usable NVIDIA GPU\n"},
		{"high-noise expert m.gguf: cannot be read", "wan22 demo: high-noise expert m.gguf: cannot be read\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := runFailed(context.Background(), "demo", errors.New(c.err), false, &stdout, &stderr)
		require.Equal(t, 1, code)
		require.Equal(t, c.want, stderr.String())
	}
	var stdout, stderr bytes.Buffer
	runFailed(context.Background(), "i2v", errors.New("wan22: opening the GPU: x"), true, &stdout, &stderr)
	require.Contains(t, stdout.String(), `"message":"opening the GPU: x"`)
}
