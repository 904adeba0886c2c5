package hostmem

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMeminfoField(t *testing.T) {
	info := "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n"
	require.Equal(t, int64(20000000)<<10, meminfoField(info, "MemAvailable:"))
	require.Equal(t, int64(-1), meminfoField(info, "Cached:"))
	require.Equal(t, int64(-1), meminfoField("MemAvailable: lots kB", "MemAvailable:"))
}

func TestCgroupLimitBoundsTotalAndAvailable(t *testing.T) {
	dir := fakeRoot(t)
	cg := filepath.Join(dir, "sys", "fs", "cgroup")
	require.NoError(t, os.MkdirAll(cg, 0o755))
	limit, usage := filepath.Join(cg, "memory.max"), filepath.Join(cg, "memory.current")

	require.NoError(t, os.WriteFile(limit, []byte("max\n"), 0o644))
	c, _ := cgroupMemory()
	require.Equal(t, int64(0), c)
	require.Equal(t, Total(), Limit())

	require.NoError(t, os.WriteFile(limit, []byte("1073741824\n"), 0o644))
	require.NoError(t, os.WriteFile(usage, []byte("1000000000\n"), 0o644))
	require.Equal(t, int64(1<<30), Limit())
	require.LessOrEqual(t, Available(), int64(1<<30)-1000000000)

	require.NoError(t, os.WriteFile(usage, []byte("2000000000\n"), 0o644))
	require.Equal(t, int64(0), Available())
}

func TestThisMachine(t *testing.T) {
	if Total() == 0 {
		t.Skip("physical memory unknown on this platform")
	}
	require.Greater(t, Limit(), int64(0))
	a := Available()
	require.Greater(t, a, int64(0))
	require.LessOrEqual(t, a, Limit())
}
