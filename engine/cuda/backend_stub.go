//go:build !cuda

package cuda

import "github.com/wan22/wan22/engine"

// Backend is the CUDA implementation of engine.Backend. In a binary built without the cuda tag none can be
// made: NewBackend returns ErrNotBuilt. The embedded interface only lets callers compile.
type Backend struct{ engine.Backend }

// NewBackend returns ErrNotBuilt: this binary was built without the cuda build tag.
func NewBackend(Config) (*Backend, error) { return nil, ErrNotBuilt }

// ForModel returns b.
func (b *Backend) ForModel(string) *Backend { return b }

// FreeOwner returns ErrNotBuilt.
func (b *Backend) FreeOwner(string) (int64, error) { return 0, ErrNotBuilt }

// MemStats reports nothing.
func (b *Backend) MemStats() MemStats { return MemStats{} }

// Trim returns ErrNotBuilt.
func (b *Backend) Trim() error { return ErrNotBuilt }

// Close does nothing.
func (b *Backend) Close() error { return nil }

// ReleaseModel returns ErrNotBuilt.
func (b *Backend) ReleaseModel(string) (ReleaseReport, error) { return ReleaseReport{}, ErrNotBuilt }

// PinnedStats reports nothing.
func (b *Backend) PinnedStats() MemStats { return MemStats{} }

// DeviceBudget reports no budget.
func (b *Backend) DeviceBudget() (limit, inUse int64) { return 0, 0 }
