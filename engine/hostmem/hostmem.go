// Package hostmem reports how much host memory the process may use, for the
// pinned-memory and block-residency budgets.
//
// Physical totals come from github.com/pbnjay/memory. Neither it nor sysinfo
// knows about containers, so Limit also reads the cgroup memory limit
// (v2 memory.max, or v1 memory.limit_in_bytes), and Available reads
// MemAvailable from /proc/meminfo (which, unlike MemFree, counts
// reclaimable page cache — what a memory-mapped model file sits in), and
// what is left under the cgroup limit, counting the cgroup's reclaimable
// page cache as free too (see cgroupMemory).
// On Windows, which does not overcommit, Available is also bounded by the
// memory that can still be committed (GlobalMemoryStatusEx's ullAvailPageFile).
package hostmem

import (
	"os"
	"path/filepath"
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
	if c, _ := cgroupMemory(); c > 0 && (t == 0 || c < t) {
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
//
// It is -1 when none of these is known, and 0 when one of them leaves
// nothing (a container at its limit): callers skip their memory checks only
// on -1, and read 0 as no memory left.
func Available() int64 {
	avail := int64(-1)
	if b, err := readFile("proc/meminfo"); err == nil {
		avail = meminfoField(string(b), "MemAvailable:")
	}
	if avail < 0 {
		// pbnjay/memory says 0 when it cannot tell.
		if f := int64(freeMemory()); f > 0 {
			avail = f
		}
	}
	// The other figures bound it, or stand in for it when it is unknown.
	bound := func(b int64) {
		if b >= 0 && (avail < 0 || b < avail) {
			avail = b
		}
	}
	bound(commitAvailable())
	if c, used := cgroupMemory(); c > 0 && used >= 0 {
		bound(max(c-used, 0))
	}
	return avail
}

// freeMemory is pbnjay/memory's free memory in bytes (0 when unknown); a
// variable for tests.
var freeMemory = memory.FreeMemory

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

// root is the directory under which the system's files (proc/meminfo,
// sys/fs/cgroup) are read: "/", or in tests a fake tree.
var root = "/"

// readFile reads the file at path (slash-separated) under root.
func readFile(path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
}

// cgroupFiles are a cgroup version's memory files, under root, and the
// fields of its memory.stat that count the page cache the kernel reclaims
// before it lets the cgroup exceed its limit.
type cgroupFiles struct {
	limit, usage, stat string
	reclaimable        []string
}

// cgroups are the cgroup versions' files, v2 first, then v1 (whose
// hierarchical total_ fields match memory.usage_in_bytes, which counts the
// cgroup's children too).
var cgroups = []cgroupFiles{
	{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory.current", "sys/fs/cgroup/memory.stat",
		[]string{"inactive_file", "active_file"}},
	{"sys/fs/cgroup/memory/memory.limit_in_bytes", "sys/fs/cgroup/memory/memory.usage_in_bytes", "sys/fs/cgroup/memory/memory.stat",
		[]string{"total_inactive_file", "total_active_file"}},
}

// cgroupMemory reads the memory cgroup of the first version whose limit file
// is there: its limit in bytes (0 when unlimited or unknown), and the memory
// its processes use against it (-1 when unknown).
//
// The cgroup's usage (memory.current, memory.usage_in_bytes) counts the page
// cache of the files its processes read — after the model files are read,
// tens of GB — which the kernel reclaims when the cgroup reaches its limit
// rather than failing an allocation or killing a process. So the page cache
// on the file LRU lists of memory.stat, inactive_file and active_file
// (total_ in v1), is not counted as used: the same measure as MemAvailable,
// which counts the machine's page cache as available, so that a container
// is not refused what the same machine without one accepts. Kubernetes and
// cAdvisor's "working set" (usage less inactive_file alone) keeps
// active_file as used; it is what the kubelet weighs before evicting a pod,
// not what the kernel reclaims under the limit, and recently read files'
// pages soon become active (read twice, or refaulted; the multi-gen LRU
// reports its two youngest generations as active), so it would still count
// the model files just read as used. Shared memory (tmpfs, shmem) lies on the anon
// lists and stays used, as do unevictable (mlocked) pages. Without a
// readable memory.stat all of the usage counts as used.
func cgroupMemory() (limit, used int64) {
	for _, c := range cgroups {
		l, ok := readBytes(c.limit)
		if !ok {
			continue
		}
		// v1 reports "unlimited" as a huge page-rounded number.
		if l <= 0 || l >= 1<<62 {
			return 0, -1
		}
		u, ok := readBytes(c.usage)
		if !ok || u < 0 {
			return l, -1
		}
		if b, err := readFile(c.stat); err == nil {
			u -= min(statBytes(string(b), c.reclaimable), u)
		}
		return l, u
	}
	return 0, -1
}

// statBytes sums the fields keys of a memory.stat (lines "key bytes"); a
// field absent or unreadable counts as 0.
func statBytes(stat string, keys []string) int64 {
	var sum int64
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		for _, k := range keys {
			if f[0] == k {
				if v, err := strconv.ParseInt(f[1], 10, 64); err == nil && v > 0 {
					sum += v
				}
			}
		}
	}
	return sum
}

// readBytes reads a file under root holding one integer ("max" reads as 0,
// meaning no limit).
func readBytes(path string) (int64, bool) {
	b, err := readFile(path)
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
