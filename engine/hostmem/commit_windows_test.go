//go:build windows

package hostmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestCommitAvailable: GlobalMemoryStatusEx answers, and Available never
// exceeds the memory left to commit (with slack for other processes
// committing or releasing memory between the two calls).
func TestCommitAvailable(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(memoryStatusEx{}), "MEMORYSTATUSEX is 64 bytes")
	c := commitAvailable()
	require.Greater(t, c, int64(0))
	require.LessOrEqual(t, Available(), commitAvailable()+256<<20)
}
