package blockswap

import (
	"errors"
	"fmt"
	"time"
)

// Timer is an optional Mover interface: a mover that measures its streams
// reports the device time its copies took and the time compute waited for
// them (on their fences), since it was made.
type Timer interface {
	Times() (copy, waited time.Duration)
}

// ErrClosed is returned by a Schedule's methods after Close.
var ErrClosed = errors.New("blockswap: schedule is closed")

// Stats counts what a Schedule did. Time fields are set only when the Mover
// implements Timer (Timed is then true).
type Stats struct {
	Resident  int   `json:"resident_blocks"`
	Swapped   int   `json:"swapped_blocks"`
	Slots     int   `json:"slots"`
	SlotBytes int64 `json:"slot_bytes"`
	Prefetch  int   `json:"prefetch"`
	// Acquires counts Acquire calls on swapped blocks; each is a PrefetchHit
	// (its upload was already queued, or the block was still in its slot) or
	// a Stall (its upload was issued on demand).
	Acquires     int64 `json:"swapped_acquires"`
	PrefetchHits int64 `json:"prefetch_hits"`
	Stalls       int64 `json:"stalls"`
	// Uploads and BytesMoved count the copies queued, prefetches included.
	Uploads    int64         `json:"uploads"`
	BytesMoved int64         `json:"bytes_moved"`
	Timed      bool          `json:"timed"`
	CopyTime   time.Duration `json:"copy_ns"`
	WaitedTime time.Duration `json:"waited_ns"`
}

// Schedule carries out a Plan over a Mover (see the package doc, "The swap
// schedule"). Its methods are for one goroutine, the one that queues the
// model's work.
type Schedule struct {
	m       Mover
	p       Plan
	swapped []int // block indices of the swapped blocks, in visiting order
	pos     []int // block → its index in swapped, or -1 when resident
	ahead   []int // block → index in swapped of the first swapped block at or after it (cyclic)
	where   []int // index in swapped → slot holding or filling it, or -1
	slots   []slot
	held    []bool // block → acquired and not released
	nheld   int
	next    int // the block the next Acquire should name
	err     error
	closed  bool
	st      Stats
}

// slot is one ring slot's state.
type slot struct {
	s     Slot
	occ   int   // index in swapped of the block it holds or is filling, or -1
	ready Fence // the fence of the upload that filled it
	free  Fence // the compute fence after the last release of a block in it: the next upload waits for it
	held  bool  // its block is acquired
}

// NewSchedule allocates p.Slots slots of p.SlotBytes on m and returns the
// schedule, ready for the first pass. On error nothing stays allocated.
func NewSchedule(p Plan, m Mover) (*Schedule, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	n := len(p.Resident)
	s := &Schedule{m: m, p: p, swapped: p.Swapped(), pos: make([]int, n), ahead: make([]int, n), held: make([]bool, n)}
	for i := range s.pos {
		s.pos[i] = -1
	}
	for j, i := range s.swapped {
		s.pos[i] = j
	}
	if k := len(s.swapped); k > 0 {
		j := 0 // first swapped at or after block i, wrapping to 0 past the last
		for i := range s.ahead {
			for j < k && s.swapped[j] < i {
				j++
			}
			s.ahead[i] = j % k
		}
	}
	s.where = make([]int, len(s.swapped))
	for j := range s.where {
		s.where[j] = -1
	}
	s.slots = make([]slot, 0, p.Slots)
	for range p.Slots {
		sl, err := m.NewSlot(p.SlotBytes)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("blockswap: allocating a slot of %s: %w", formatBytes(p.SlotBytes), err), s.Close())
		}
		s.slots = append(s.slots, slot{s: sl, occ: -1})
	}
	s.st = Stats{Resident: n - len(s.swapped), Swapped: len(s.swapped), Slots: p.Slots, SlotBytes: p.SlotBytes, Prefetch: p.Prefetch}
	return s, nil
}

// check rejects plans a Schedule cannot carry out.
func (p Plan) check() error {
	n, k := len(p.Resident), len(p.Swapped())
	switch {
	case n == 0:
		return errors.New("blockswap: the plan has no blocks")
	case p.BlockBytes != nil && len(p.BlockBytes) != n:
		return fmt.Errorf("blockswap: the plan has %d blocks but %d block sizes", n, len(p.BlockBytes))
	case k == 0 && p.Slots != 0:
		return fmt.Errorf("blockswap: the plan has %d slots but no swapped block", p.Slots)
	case k > 0 && (p.Slots < 1 || p.SlotBytes <= 0):
		return fmt.Errorf("blockswap: the plan swaps %d blocks through %d slots of %d bytes; it needs at least one slot of positive size", k, p.Slots, p.SlotBytes)
	case p.Prefetch < 0 || (k > 0 && p.Prefetch > p.Slots-1):
		return fmt.Errorf("blockswap: prefetch %d with %d slots: at most slots − 1 blocks can be copied while one computes", p.Prefetch, p.Slots)
	}
	for _, i := range p.Swapped() {
		if b := p.blockBytes(i); b > p.SlotBytes || b <= 0 {
			return fmt.Errorf("blockswap: swapped block %d has %d bytes; slots hold %d", i, b, p.SlotBytes)
		}
	}
	return nil
}

// usable returns an error when the schedule cannot take calls, or block i is
// out of range.
func (s *Schedule) usable(i int) error {
	switch {
	case s.closed:
		return ErrClosed
	case s.err != nil:
		return fmt.Errorf("blockswap: the schedule failed earlier and must be closed: %w", s.err)
	case i < 0 || i >= len(s.held):
		return fmt.Errorf("blockswap: block %d out of range [0, %d)", i, len(s.held))
	}
	return nil
}

// fail makes err sticky and returns it.
func (s *Schedule) fail(i int, what string, err error) error {
	s.err = fmt.Errorf("blockswap: block %d: %s: %w", i, what, err)
	return s.err
}

// Acquire makes block i's weights usable by the compute queued after it, and
// queues the copies of the next swapped blocks. Blocks are acquired in order
// 0…n−1, then 0 again; a pass may also restart at 0 when no block is held.
func (s *Schedule) Acquire(i int) error {
	if err := s.usable(i); err != nil {
		return err
	}
	if s.held[i] {
		return fmt.Errorf("blockswap: block %d acquired twice without a release", i)
	}
	if i != s.next && (i != 0 || s.nheld > 0) {
		return fmt.Errorf("blockswap: block %d acquired out of order: the next block is %d (or 0 to restart a pass with no block held)", i, s.next)
	}
	s.held[i] = true
	s.nheld++
	s.next = (i + 1) % len(s.held)
	j := s.pos[i]
	if j < 0 {
		if len(s.swapped) > 0 {
			return s.prefetch(i, s.ahead[i], s.p.Prefetch)
		}
		return nil
	}
	s.st.Acquires++
	if s.where[j] >= 0 {
		s.st.PrefetchHits++
	} else {
		v := s.victim(j, s.p.Prefetch+1, true)
		if v < 0 {
			return s.fail(i, "no free slot", fmt.Errorf("all %d slots hold acquired blocks; release a block before acquiring the next", len(s.slots)))
		}
		s.st.Stalls++
		if err := s.upload(v, j); err != nil {
			return s.fail(i, "upload", err)
		}
	}
	sl := &s.slots[s.where[j]]
	sl.held = true
	if err := s.m.Wait(sl.ready); err != nil {
		return s.fail(i, "waiting for its copy", err)
	}
	return s.prefetch(i, (j+1)%len(s.swapped), s.p.Prefetch)
}

// prefetch queues the uploads of the w swapped blocks from index from on
// (cyclic; not past the one before from), into slots not needed sooner.
// i is the block being acquired, for errors.
func (s *Schedule) prefetch(i, from, w int) error {
	k := len(s.swapped)
	w = min(w, k)
	if h := s.pos[i]; h >= 0 {
		w = min(w, k-1) // never the held block itself again
	}
	for d := range w {
		t := (from + d) % k
		if s.where[t] >= 0 {
			continue
		}
		v := s.victim(from, w, false)
		if v < 0 {
			return nil // no slot free for it yet: a later Acquire queues it
		}
		if err := s.upload(v, t); err != nil {
			return s.fail(i, "prefetch of block "+fmt.Sprint(s.swapped[t]), err)
		}
	}
	return nil
}

// victim picks the slot to fill with a block of the window [from, from+w)
// of swapped indices: among slots whose block is not held, an empty one, else
// the one whose block comes back last from from on. A prefetch never evicts a
// block of the window; on demand (the block at from itself) any slot not held
// will do. -1 when none.
func (s *Schedule) victim(from, w int, demand bool) int {
	k := len(s.swapped)
	best, bestDist := -1, -1
	for v := range s.slots {
		sl := &s.slots[v]
		if sl.held {
			continue
		}
		dist := k // empty: best of all
		if sl.occ >= 0 {
			dist = (sl.occ - from + k) % k
			if dist < w && !demand {
				continue
			}
		}
		if dist > bestDist {
			best, bestDist = v, dist
		}
	}
	return best
}

// upload queues swapped index t into slot v, after the compute that last
// read the slot.
func (s *Schedule) upload(v, t int) error {
	sl := &s.slots[v]
	if sl.occ >= 0 {
		s.where[sl.occ] = -1
	}
	sl.occ = -1
	f, err := s.m.Upload(sl.s, s.swapped[t], sl.free)
	if err != nil {
		return err
	}
	sl.occ, sl.ready = t, f
	s.where[t] = v
	s.st.Uploads++
	s.st.BytesMoved += s.p.blockBytes(s.swapped[t])
	return nil
}

// Release ends block i's use by the compute queued so far: the slot of a
// swapped block may be refilled once that compute has finished.
func (s *Schedule) Release(i int) error {
	if err := s.usable(i); err != nil {
		return err
	}
	if !s.held[i] {
		return fmt.Errorf("blockswap: block %d released without being acquired", i)
	}
	s.held[i] = false
	s.nheld--
	j := s.pos[i]
	if j < 0 {
		return nil
	}
	sl := &s.slots[s.where[j]]
	sl.held = false
	f, err := s.m.Done()
	if err != nil {
		return s.fail(i, "recording the end of its compute", err)
	}
	sl.free = f
	return nil
}

// Close frees every slot, also after a failure or with blocks still held
// (the Mover orders the frees after the work using them). Later calls return
// nil.
func (s *Schedule) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for v := range s.slots {
		if sl := &s.slots[v]; sl.s != nil {
			if err := s.m.FreeSlot(sl.s); err != nil {
				errs = append(errs, fmt.Errorf("blockswap: freeing slot %d: %w", v, err))
			}
			sl.s = nil
		}
	}
	return errors.Join(errs...)
}

// Stats returns the counts so far, with the Mover's times when it is a Timer.
func (s *Schedule) Stats() Stats {
	st := s.st
	if t, ok := s.m.(Timer); ok {
		st.Timed = true
		st.CopyTime, st.WaitedTime = t.Times()
	}
	return st
}
