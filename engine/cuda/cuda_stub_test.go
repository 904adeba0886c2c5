//go:build !cuda

package cuda

import (
	"errors"
	"testing"
)

func TestStubOpen(t *testing.T) {
	d, err := Open(Config{})
	if d != nil || !errors.Is(err, ErrNotBuilt) || Available() {
		t.Fatalf("Open without the cuda tag = %v, %v", d, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
