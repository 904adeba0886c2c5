//go:build !cuda

package cuda

// Device is a CUDA device. In a binary built without the cuda tag no Device can be opened.
type Device struct{}

// Open returns ErrNotBuilt: this binary was built without the cuda build tag.
func Open(Config) (*Device, error) { return nil, ErrNotBuilt }

// Available reports whether this binary was built with CUDA support.
func Available() bool { return false }

// Close does nothing.
func (d *Device) Close() error { return nil }
