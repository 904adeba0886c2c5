// Package hostmem reports how much host memory the process may use, for the
// pinned-memory and block-residency budgets.
//
// Physical totals come from github.com/pbnjay/memory. Neither it nor sysinfo
// knows about containers, so Limit also reads the cgroup memory limit
// (v2 memory.max, or v1 memory.limit_in_bytes), and Available reads
// MemAvailable from /proc/meminfo (which, unlike MemFree, counts
// reclaimable page cache — what a memory-mapped model file sits in).
// On Windows, which does not overcommit, Available is also bounded by the
// memory that can still be committed (GlobalMemoryStatusEx's ullAvailPageFile).
package hostmem

import (
	"os"
	"strconv"
	"strings"

	"github.com/pbnjay/memory"
)

// Total is the machine's physical memory in bytes (0 when unknown).
func Total() int64 { return int64(memory.TotalMemory()) }

// Limit is the memory this process may use: the smaller of Total and the
// cgroup limit, if any (0 when neither is known).
func Limit() int64 {
	t := Total()
	if c := cgroupLimit(); c > 0 && (t == 0 || c < t) {
		return c
	}
	return t
}

// Available estimates the memory that can still be allocated without
// swapping: MemAvailable from /proc/meminfo, bounded by what is left under
// the cgroup limit. It falls back to pbnjay/memory's free memory where /proc
// is missing (on macOS it excludes page cache; on Windows it is
// ullAvailPhys, which counts the standby list). On Windows it is further
// bounded by the memory left to commit, because there a heap allocation fails
// beyond the commit limit even while physical memory is free.
func Available() int64 {
	avail := int64(-1)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		avail = meminfoField(string(b), "MemAvailable:")
	}
	if avail < 0 {
		avail = int64(memory.FreeMemory())
	}
	if c := commitAvailable(); c >= 0 && c < avail {
		avail = c
	}
	if c := cgroupLimit(); c > 0 {
		if used := cgroupUsage(); used >= 0 && c-used < avail {
			avail = max(c-used, 0)
		}
	}
	return avail
}

// meminfoField returns a /proc/meminfo field in bytes, or -1 when absent.
func meminfoField(meminfo, key string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == key {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// Files of the cgroup (v2 first, then v1); variables so tests can point them elsewhere.
var (
	limitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
	usageFiles = []string{"/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}
)

// cgroupLimit is the cgroup memory limit in bytes, or 0 when unlimited or unknown.
func cgroupLimit() int64 {
	for _, f := range limitFiles {
		if v, ok := readBytes(f); ok {
			// v1 reports "unlimited" as a huge page-rounded number.
			if v <= 0 || v >= 1<<62 {
				return 0
			}
			return v
		}
	}
	return 0
}

// cgroupUsage is the cgroup's current memory use in bytes, or -1 when unknown.
func cgroupUsage() int64 {
	for _, f := range usageFiles {
		if v, ok := readBytes(f); ok {
			return v
		}
	}
	return -1
}

// readBytes reads a file holding one integer ("max" reads as 0, meaning no limit).
func readBytes(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
