package cuda

import (
	"sort"
	"sync"
)

// MemStats reports the use of one budget.
type MemStats struct {
	Limit   int64            // the budget
	InUse   int64            // bytes allocated now
	Peak    int64            // the most InUse has been since Open (or ResetPeak)
	Allocs  int              // live allocations
	ByOwner map[string]int64 // bytes allocated now, per owner (owners with none are absent)
}

// budget accounts allocations against a limit, per owner. It is safe for concurrent use and does no CUDA
// calls; the allocators reserve before asking the driver and release after freeing.
type budget struct {
	what string

	mu     sync.Mutex
	limit  int64
	inUse  int64
	peak   int64
	allocs int
	owners map[string]int64
}

func newBudget(what string, limit int64) *budget {
	return &budget{what: what, limit: limit, owners: map[string]int64{}}
}

// reserve books n bytes for owner, or returns a *BudgetError when that would exceed the limit.
func (b *budget) reserve(owner string, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 || b.inUse+n > b.limit {
		return &BudgetError{What: b.what, Owner: owner, Request: n, InUse: b.inUse, Limit: b.limit}
	}
	b.inUse += n
	b.owners[owner] += n
	b.allocs++
	if b.inUse > b.peak {
		b.peak = b.inUse
	}
	return nil
}

// release returns n bytes of owner's reservation.
func (b *budget) release(owner string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inUse -= n
	b.allocs--
	if left := b.owners[owner] - n; left > 0 {
		b.owners[owner] = left
	} else {
		delete(b.owners, owner)
	}
}

func (b *budget) stats() MemStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[string]int64, len(b.owners))
	for k, v := range b.owners {
		m[k] = v
	}
	return MemStats{Limit: b.limit, InUse: b.inUse, Peak: b.peak, Allocs: b.allocs, ByOwner: m}
}

func (b *budget) owned(owner string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owners[owner]
}

func (b *budget) resetPeak() {
	b.mu.Lock()
	b.peak = b.inUse
	b.mu.Unlock()
}

// Owners lists the owners with live allocations, sorted.
func (s MemStats) Owners() []string {
	out := make([]string, 0, len(s.ByOwner))
	for k := range s.ByOwner {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// deviceBudget is min(cap, free − reserve), never negative; cap ≤ 0 means no user cap.
func deviceBudget(capBytes, free, reserve int64) int64 {
	b := free - reserve
	if capBytes > 0 && capBytes < b {
		b = capBytes
	}
	if b < 0 {
		b = 0
	}
	return b
}
