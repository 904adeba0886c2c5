package hostmem

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeRoot points root at an empty folder for the test, in which the test
// writes its proc/meminfo and sys/fs/cgroup files.
func fakeRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := root
	t.Cleanup(func() { root = old })
	root = dir
	return dir
}

// writeTree writes files (slash-separated paths) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
}

const gib = int64(1) << 30

// meminfo60 is a machine with 60 GiB available.
const meminfo60 = "MemTotal:       67108864 kB\nMemFree:         1048576 kB\nMemAvailable:   62914560 kB\n"

// TestQA14CgroupPageCacheIsAvailable: in a container at 32 GiB whose usage,
// 30 GiB, is mostly the page cache of the model files just read (16 GiB
// inactive, 10 GiB active), Available reports the limit less the memory
// that is not page cache, 28 GiB, for cgroup v2 and v1 alike; it reported
// 2 GiB (the limit less the usage), and a request that fits was refused.
func TestQA14CgroupPageCacheIsAvailable(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
	}{
		{"v2", map[string]string{
			"sys/fs/cgroup/memory.max":     "34359738368\n",
			"sys/fs/cgroup/memory.current": "32212254720\n",
			"sys/fs/cgroup/memory.stat": "anon 4294967296\nfile 27917287424\nshmem 0\nfile_dirty 4096\n" +
				"inactive_anon 0\nactive_anon 4294967296\ninactive_file 17179869184\nactive_file 10737418240\nunevictable 0\n",
		}},
		{"v1", map[string]string{
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "34359738368\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes": "32212254720\n",
			// This cgroup's own fields (no total_ prefix) leave out its
			// children's, and are not the ones to read.
			"sys/fs/cgroup/memory/memory.stat": "cache 4096\nrss 4096\ninactive_file 4096\nactive_file 0\n" +
				"total_cache 27917287424\ntotal_rss 4294967296\ntotal_inactive_file 17179869184\ntotal_active_file 10737418240\n",
		}},
		// The usage and memory.stat read are those of the version whose
		// limit is read (v2 here), never those of a v1 hierarchy beside it.
		{"v2 beside v1", map[string]string{
			"sys/fs/cgroup/memory.max":                   "34359738368\n",
			"sys/fs/cgroup/memory.current":               "8589934592\n",
			"sys/fs/cgroup/memory.stat":                  "inactive_file 2147483648\nactive_file 2147483648\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes": "1073741824\n",
			"sys/fs/cgroup/memory/memory.stat":           "total_inactive_file 0\ntotal_active_file 0\n",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fakeRoot(t)
			c.files["proc/meminfo"] = meminfo60
			writeTree(t, dir, c.files)
			limit, used := cgroupMemory()
			require.Equal(t, 32*gib, limit)
			require.Equal(t, 4*gib, used)
			require.Equal(t, 28*gib, Available())
		})
	}
}

// TestQA14CgroupV2WithoutStat: without a readable memory.stat the whole of
// the cgroup's usage counts as used, as before; a memory.stat whose page
// cache exceeds the usage (read at another moment) leaves the whole limit.
func TestQA14CgroupV2WithoutStat(t *testing.T) {
	dir := fakeRoot(t)
	writeTree(t, dir, map[string]string{
		"proc/meminfo":                 meminfo60,
		"sys/fs/cgroup/memory.max":     "34359738368\n",
		"sys/fs/cgroup/memory.current": "32212254720\n",
	})
	require.Equal(t, 2*gib, Available())

	writeTree(t, dir, map[string]string{"sys/fs/cgroup/memory.stat": "inactive_file 34359738368\nactive_file 1\n"})
	require.Equal(t, 32*gib, Available())
}

// TestQA14MeminfoUnderRoot: outside a cgroup limit Available is the fake
// tree's MemAvailable, bounded by nothing else (on Linux and macOS).
func TestQA14MeminfoUnderRoot(t *testing.T) {
	if commitAvailable() >= 0 {
		t.Skip("Windows bounds Available by the commit limit")
	}
	dir := fakeRoot(t)
	writeTree(t, dir, map[string]string{
		"proc/meminfo":             meminfo60,
		"sys/fs/cgroup/memory.max": "max\n",
	})
	require.Equal(t, 60*gib, Available())
}

// TestQA14ExhaustedIsNotUnknown: Available is -1 when nothing tells the
// memory available, and 0 when a machine, or a container at its limit (v2,
// v1), has none left. Both read 0, and the callers, which skip their memory
// checks when the memory is unknown, skipped them in a container with no
// memory left. Where neither /proc/meminfo nor pbnjay/memory tells, the
// cgroup's figure stands in; it read 0 too.
func TestQA14ExhaustedIsNotUnknown(t *testing.T) {
	if commitAvailable() >= 0 {
		t.Skip("Windows bounds Available by the commit limit")
	}
	oldFree := freeMemory
	t.Cleanup(func() { freeMemory = oldFree })
	freeMemory = func() uint64 { return 0 } // pbnjay/memory cannot tell

	dir := fakeRoot(t)
	require.Equal(t, int64(-1), Available(), "nothing known")

	writeTree(t, dir, map[string]string{"proc/meminfo": "MemTotal: 67108864 kB\nMemFree: 0 kB\nMemAvailable: 0 kB\n"})
	require.Equal(t, int64(0), Available(), "a machine with nothing available")

	require.NoError(t, os.Remove(filepath.Join(dir, "proc", "meminfo")))
	for _, files := range []map[string]string{{
		"sys/fs/cgroup/memory.max":     "34359738368\n",
		"sys/fs/cgroup/memory.current": "34359738368\n",
		"sys/fs/cgroup/memory.stat":    "anon 34359738368\ninactive_file 0\nactive_file 0\n",
	}, {
		"sys/fs/cgroup/memory/memory.limit_in_bytes": "34359738368\n",
		"sys/fs/cgroup/memory/memory.usage_in_bytes": "34363932672\n", // v1's usage is approximate, and may pass the limit
		"sys/fs/cgroup/memory/memory.stat":           "total_rss 34359738368\ntotal_inactive_file 0\ntotal_active_file 0\n",
	}} {
		dir := fakeRoot(t)
		writeTree(t, dir, files)
		require.Equal(t, int64(0), Available(), "a container at its limit, /proc/meminfo unknown")
		writeTree(t, dir, map[string]string{"proc/meminfo": meminfo60})
		require.Equal(t, int64(0), Available(), "a container at its limit")
	}

	dir = fakeRoot(t)
	writeTree(t, dir, map[string]string{
		"sys/fs/cgroup/memory.max":     "34359738368\n",
		"sys/fs/cgroup/memory.current": "8589934592\n",
	})
	require.Equal(t, 24*gib, Available(), "the cgroup's figure, /proc/meminfo unknown")
}
