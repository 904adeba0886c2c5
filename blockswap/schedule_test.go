package blockswap

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testPlan makes a plan of n blocks with swapped ones at sw, block i of
// (i%3+2) MiB (so sizes differ), and the ring given.
func testPlan(n int, sw []int, slots, prefetch int) Plan {
	p := Plan{Resident: make([]bool, n), BlockBytes: make([]int64, n), Slots: slots, Prefetch: prefetch}
	for i := range p.Resident {
		p.Resident[i] = true
		p.BlockBytes[i] = int64(i%3+2) << 20
	}
	for _, i := range sw {
		p.Resident[i] = false
		p.SlotBytes = max(p.SlotBytes, p.BlockBytes[i])
	}
	return p
}

// schedulePlans are the plans the schedule tests run.
func schedulePlans() map[string]Plan {
	every := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	return map[string]Plan{
		"all resident":            testPlan(6, nil, 0, 0),
		"one swapped":             testPlan(5, []int{2}, 2, 1),
		"first and last swapped":  testPlan(6, []int{0, 5}, 2, 1),
		"all swapped, 2 slots":    testPlan(6, every(6), 2, 1),
		"all swapped, 3 slots":    testPlan(6, every(6), 3, 2),
		"all swapped, 3 slots/p1": testPlan(7, every(7), 3, 1),
		"all swapped, 1 slot/p0":  testPlan(4, every(4), 1, 0),
		"swapped = slots":         testPlan(6, []int{1, 3, 5}, 3, 2),
		"spread 10 of 40, 2":      testPlan(40, spread(40, 10), 2, 1),
		"spread 10 of 40, 3":      testPlan(40, spread(40, 10), 3, 2),
		"planner 14B 16 GiB":      mustPlan(inputs14B(16*gib, 64*gib, 32760, 64)),
	}
}

func mustPlan(in Inputs) Plan {
	p, err := NewPlan(in)
	if err != nil {
		panic(err)
	}
	return p
}

// runPasses runs passes forward passes over s (two Computes per block under
// CFG), stopping at the first error.
func runPasses(s *Schedule, f *Fake, n, passes int, cfg bool) error {
	for range passes {
		for i := range n {
			if err := s.Acquire(i); err != nil {
				return err
			}
			for range map[bool]int{false: 1, true: 2}[cfg] {
				if err := f.Compute(i); err != nil {
					return err
				}
			}
			if err := s.Release(i); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestScheduleAgainstFake(t *testing.T) {
	const passes = 4
	for name, p := range schedulePlans() {
		for _, cfg := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cfg=%v", name, cfg), func(t *testing.T) {
				f := NewFake()
				f.SetResident(p.Resident)
				s, err := NewSchedule(p, f)
				if err != nil {
					t.Fatal(err)
				}
				n, sw := len(p.Resident), p.Swapped()
				if err := runPasses(s, f, n, passes, cfg); err != nil {
					t.Fatal(err)
				}
				if v := f.Violations(); len(v) > 0 {
					t.Fatalf("fake saw violations: %v", v)
				}
				want := map[bool]int{false: 1, true: 2}[cfg] * n * passes
				if f.Computes() != want {
					t.Errorf("%d computes passed, want %d", f.Computes(), want)
				}
				st := s.Stats()
				var moved int64
				for _, b := range f.Uploads() {
					moved += p.BlockBytes[b]
				}
				swBytes := sum(p.BlockBytes, sw)
				// The last block's Acquire prefetches the next pass's first swapped blocks.
				ahead := sum(p.BlockBytes, sw[:min(p.Prefetch, len(sw))])
				switch {
				case moved != st.BytesMoved || int64(len(f.Uploads())) != st.Uploads:
					t.Errorf("stats say %d uploads, %d bytes; the fake saw %d, %d", st.Uploads, st.BytesMoved, len(f.Uploads()), moved)
				case len(sw) <= p.Slots && moved != swBytes:
					t.Errorf("moved %d bytes; with every swapped block fitting the slots, want each once: %d", moved, swBytes)
				case len(sw) > p.Slots && p.Prefetch == p.Slots-1 && moved != passes*swBytes+ahead:
					t.Errorf("moved %d bytes, want passes × swapped bytes + the next pass's first %d prefetched = %d",
						moved, p.Prefetch, passes*swBytes+ahead)
				case moved > passes*swBytes+ahead || moved < swBytes:
					t.Errorf("moved %d bytes, outside [%d, %d]", moved, swBytes, passes*swBytes+ahead)
				}
				if st.Acquires != int64(passes*len(sw)) || st.PrefetchHits+st.Stalls != st.Acquires {
					t.Errorf("stats: %d acquires = %d hits + %d stalls, want %d acquires", st.Acquires, st.PrefetchHits, st.Stalls, passes*len(sw))
				}
				if len(sw) > 0 && p.Prefetch > 0 {
					wantStalls := int64(0)
					if sw[0] == 0 {
						wantStalls = 1 // nothing before it to prefetch under on the first pass
					}
					if st.Stalls != wantStalls {
						t.Errorf("%d stalls, want %d", st.Stalls, wantStalls)
					}
				}
				if st.Resident != n-len(sw) || st.Swapped != len(sw) || st.Slots != p.Slots || st.Timed {
					t.Errorf("stats %+v", st)
				}
				if f.PeakBytes() != int64(p.Slots)*p.SlotBytes {
					t.Errorf("peak slot bytes %d, want %d", f.PeakBytes(), int64(p.Slots)*p.SlotBytes)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
				if f.LiveBytes() != 0 || f.LiveSlots() != 0 || len(f.Violations()) > 0 {
					t.Errorf("after Close: %d bytes in %d slots live, violations %v", f.LiveBytes(), f.LiveSlots(), f.Violations())
				}
				if err := s.Acquire(0); !errors.Is(err, ErrClosed) {
					t.Errorf("Acquire after Close: %v, want ErrClosed", err)
				}
			})
		}
	}
}

func TestScheduleFaultInjection(t *testing.T) {
	const passes = 3
	for name, p := range schedulePlans() {
		for _, cfg := range []bool{false, true} {
			n := len(p.Resident)
			clean := NewFake()
			clean.SetResident(p.Resident)
			s, err := NewSchedule(p, clean)
			if err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(runPasses(s, clean, n, passes, cfg), s.Close()); err != nil {
				t.Fatal(err)
			}
			for call := 1; call <= clean.NumCalls(); call++ {
				f := NewFake()
				f.SetResident(p.Resident)
				f.FailAt(call)
				var errs []error
				s, err := NewSchedule(p, f)
				errs = append(errs, err)
				if err == nil {
					err = runPasses(s, f, n, passes, cfg)
					errs = append(errs, err)
					if err != nil && !errors.Is(err, ErrInjected) {
						t.Errorf("%s cfg=%v, fault at call %d: %v, not the injected fault", name, cfg, call, err)
					}
					if err != nil {
						if again := s.Acquire(0); again == nil {
							t.Errorf("%s, fault at call %d: Acquire after the failure succeeded", name, call)
						}
					}
					errs = append(errs, s.Close())
				}
				if !errors.Is(errors.Join(errs...), ErrInjected) {
					t.Errorf("%s cfg=%v, fault at call %d (%s): the fault never surfaced", name, cfg, call, f.Calls()[call-1].Op)
				}
				if f.LiveBytes() != 0 || f.LiveSlots() != 0 || len(f.Violations()) > 0 {
					t.Errorf("%s cfg=%v, fault at call %d: %d bytes live, violations %v", name, cfg, call, f.LiveBytes(), f.Violations())
				}
			}
		}
	}
}

func TestScheduleMisuse(t *testing.T) {
	p := testPlan(6, []int{1, 4}, 2, 1)
	f := NewFake()
	f.SetResident(p.Resident)
	s, err := NewSchedule(p, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	expectErr := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", what, err, want)
		}
	}
	expectErr("out-of-order Acquire", s.Acquire(1), "out of order")
	expectErr("Release without Acquire", s.Release(0), "without being acquired")
	expectErr("out of range", s.Acquire(6), "out of range")
	expectErr("negative", s.Release(-1), "out of range")
	if err := s.Acquire(0); err != nil {
		t.Fatal(err)
	}
	expectErr("double Acquire", s.Acquire(0), "twice")
	expectErr("restart while held", s.Acquire(0), "twice")
	if err := errors.Join(s.Release(0), s.Acquire(1), f.Compute(1)); err != nil {
		t.Fatal(err)
	}
	expectErr("skipping a block", s.Acquire(3), "out of order")
	expectErr("restart while block 1 is held", s.Acquire(0), "out of order")
	if err := s.Release(1); err != nil {
		t.Fatal(err)
	}
	// A pass abandoned after block 1 restarts at 0.
	if err := runPasses(s, f, 6, 2, false); err != nil {
		t.Fatal(err)
	}
	if v := f.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
	// Misuse is not a failure of the schedule: it goes on working.
	if err := s.Acquire(0); err != nil {
		t.Errorf("after misuse: %v", err)
	}
	for _, bad := range []Plan{
		{},
		testPlan(4, nil, 2, 1),
		testPlan(4, []int{1}, 0, 0),
		testPlan(4, []int{1, 2}, 2, 2),
		{Resident: []bool{false}, Slots: 2, SlotBytes: 1, Prefetch: 1, BlockBytes: []int64{2}},
		{Resident: []bool{false, true}, Slots: 2, SlotBytes: 1, Prefetch: 1, BlockBytes: []int64{1}},
	} {
		if s, err := NewSchedule(bad, NewFake()); err == nil {
			s.Close()
			t.Errorf("NewSchedule(%+v) accepted a bad plan", bad)
		}
	}
}

// dropAfter is a broken mover: it loses the upload's after fence.
type dropAfter struct{ *Fake }

func (d dropAfter) Upload(s Slot, block int, _ Fence) (Fence, error) {
	return d.Fake.Upload(s, block, nil)
}

// skipWait is a broken mover: compute never waits for the copies.
type skipWait struct{ *Fake }

func (skipWait) Wait(Fence) error { return nil }

// The fake's checks catch the bugs they are there for.
func TestFakeCatchesOrderingBugs(t *testing.T) {
	p := testPlan(6, []int{0, 1, 2, 3, 4, 5}, 2, 1)
	for name, mk := range map[string]func(*Fake) Mover{
		"upload without after": func(f *Fake) Mover { return dropAfter{f} },
		"compute without wait": func(f *Fake) Mover { return skipWait{f} },
	} {
		f := NewFake()
		s, err := NewSchedule(p, mk(f))
		if err != nil {
			t.Fatal(err)
		}
		if err := runPasses(s, f, 6, 2, false); err == nil || len(f.Violations()) == 0 {
			t.Errorf("%s: ran clean (%v)", name, err)
		}
		s.Close()
	}
	// Overwriting a slot whose block is still to compute.
	f := NewFake()
	sl, _ := f.NewSlot(10)
	a, _ := f.Upload(sl, 1, nil)
	if err := f.Wait(a); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Upload(sl, 2, nil); err != nil {
		t.Fatal(err) // nothing read the slot yet: allowed
	}
	if err := f.Compute(1); err == nil {
		t.Errorf("computing a block whose slot was overwritten passed")
	}
	if err := f.FreeSlot(sl); err != nil {
		t.Fatal(err)
	}
	if err := f.FreeSlot(sl); err == nil {
		t.Errorf("double free passed")
	}
}

// timedFake is a Fake that reports times, as the CUDA mover does.
type timedFake struct{ *Fake }

func (timedFake) Times() (copy, waited time.Duration) { return 3 * time.Millisecond, time.Millisecond }

func TestStatsTimesAndJSON(t *testing.T) {
	p := testPlan(4, []int{1, 3}, 2, 1)
	f := NewFake()
	f.SetResident(p.Resident)
	s, err := NewSchedule(p, timedFake{f})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := runPasses(s, f, 4, 1, false); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if !st.Timed || st.CopyTime != 3*time.Millisecond || st.WaitedTime != time.Millisecond {
		t.Errorf("times not taken from the Timer: %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"uploads":2`, `"bytes_moved":`, `"prefetch_hits":`, `"stalls":`, `"copy_ns":3000000`, `"waited_ns":1000000`, `"resident_blocks":2`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %s", b, k)
		}
	}
}
