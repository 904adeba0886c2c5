//go:build !unix && !windows

package safetensors

import (
	"errors"
	"os"
)

// mapFile does not map files on this platform: it returns
// errors.ErrUnsupported, and Open reads tensors from the file on demand
// instead (reading the whole file here would cost its full size in heap for
// every open, header-only ones included).
func mapFile(*os.File, int) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}
