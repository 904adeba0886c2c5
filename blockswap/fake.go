package blockswap

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInjected is matched (errors.Is) by the errors of calls Fake.FailAt fails.
var ErrInjected = errors.New("blockswap: injected mover fault")

// Stream names one of Fake's two simulated streams.
type Stream int

const (
	CopyStream    Stream = iota // uploads
	ComputeStream               // the blocks' kernels (Fake.Compute)
)

func (s Stream) String() string {
	if s == CopyStream {
		return "copy"
	}
	return "compute"
}

// FakeFence is Fake's Fence: the point after the Seq-th operation of Stream.
type FakeFence struct {
	Stream Stream
	Seq    int64
}

// FakeSlot is Fake's Slot.
type FakeSlot struct {
	ID int
	N  int64
}

// Bytes returns the slot's size.
func (s *FakeSlot) Bytes() int64 { return s.N }

// FakeCall is one recorded Mover call.
type FakeCall struct {
	N     int        // 1-based call number (the numbering FailAt uses)
	Op    string     // "NewSlot", "Upload", "Wait", "Done" or "FreeSlot"
	Slot  int        // slot ID, or -1
	Block int        // uploaded block, or -1
	Fence *FakeFence // the fence passed (Upload's after, Wait's) or returned (Done's), if any
	Err   error      // what the call returned
}

// Fake is a Mover that simulates a copy and a compute stream in the order
// work is queued, and checks the ordering rules of the package doc: a block
// computes only after the compute stream waited for the upload that put it in
// its slot, and an upload overwrites a slot only after the compute that last
// read it (its after fence covers that compute). Violations come back as
// errors from Compute and Upload and are also kept (Violations). It counts
// slot bytes so that tests can check all are freed. Not for concurrent use.
type Fake struct {
	calls      []FakeCall
	failAt     int
	copySeq    int64 // operations queued on the copy stream
	computeSeq int64 // operations queued on the compute stream
	waited     int64 // the highest copy fence the compute stream waited for
	slots      map[*FakeSlot]*fakeSlot
	nextID     int
	live, peak int64
	resident   []bool
	in         map[int]*FakeSlot // block → the slot its weights are in
	uploads    []int             // uploaded blocks, in order
	computes   int
	violations []error
}

// fakeSlot is what a live slot holds.
type fakeSlot struct {
	block    int   // -1: nothing
	filled   int64 // copy sequence number of the upload that filled it
	lastRead int64 // compute sequence number of the last Compute that read it
}

// NewFake returns a Fake with no slots, on which every block is swapped until
// SetResident says otherwise.
func NewFake() *Fake {
	return &Fake{slots: map[*FakeSlot]*fakeSlot{}, in: map[int]*FakeSlot{}}
}

// SetResident tells the fake which blocks are resident (always computable).
func (f *Fake) SetResident(r []bool) { f.resident = slices.Clone(r) }

// FailAt makes the n-th mover call (1-based, counting every call so far)
// fail with ErrInjected; n ≤ 0 turns it off. A failing FreeSlot still frees
// its slot (as the driver does after a fatal error), so that a retry shows as
// a double free.
func (f *Fake) FailAt(n int) { f.failAt = n }

// Calls returns the recorded mover calls.
func (f *Fake) Calls() []FakeCall { return slices.Clone(f.calls) }

// NumCalls returns the number of mover calls so far.
func (f *Fake) NumCalls() int { return len(f.calls) }

// Uploads returns the uploaded blocks, in order.
func (f *Fake) Uploads() []int { return slices.Clone(f.uploads) }

// Computes returns the number of Compute calls that passed.
func (f *Fake) Computes() int { return f.computes }

// LiveBytes returns the bytes of the slots allocated and not freed.
func (f *Fake) LiveBytes() int64 { return f.live }

// PeakBytes returns the most slot bytes allocated at once.
func (f *Fake) PeakBytes() int64 { return f.peak }

// LiveSlots returns the number of slots allocated and not freed.
func (f *Fake) LiveSlots() int { return len(f.slots) }

// Violations returns every ordering or ownership rule broken so far.
func (f *Fake) Violations() []error { return slices.Clone(f.violations) }

// call records a call and returns the injected error when it is the one.
func (f *Fake) call(op string, slot, block int, fence *FakeFence) (*FakeCall, error) {
	f.calls = append(f.calls, FakeCall{N: len(f.calls) + 1, Op: op, Slot: slot, Block: block, Fence: fence})
	c := &f.calls[len(f.calls)-1]
	if c.N == f.failAt {
		c.Err = fmt.Errorf("fake %s (call %d): %w", op, c.N, ErrInjected)
	}
	return c, c.Err
}

// violate records a broken rule and returns it as an error.
func (f *Fake) violate(format string, args ...any) error {
	err := fmt.Errorf("blockswap fake: "+format, args...)
	f.violations = append(f.violations, err)
	return err
}

// fence converts a Fence to a *FakeFence; nil stays nil.
func (f *Fake) fence(x Fence) (*FakeFence, error) {
	switch v := x.(type) {
	case nil:
		return nil, nil
	case FakeFence:
		top := f.copySeq
		if v.Stream == ComputeStream {
			top = f.computeSeq
		}
		if v.Seq < 0 || v.Seq > top {
			return &v, f.violate("fence %v of the future (the %s stream is at %d)", v, v.Stream, top)
		}
		return &v, nil
	default:
		return nil, f.violate("fence of type %T is not the fake's", x)
	}
}

// slot finds a live slot.
func (f *Fake) slot(s Slot) (*FakeSlot, *fakeSlot, error) {
	fs, ok := s.(*FakeSlot)
	if !ok {
		return nil, nil, f.violate("slot of type %T is not the fake's", s)
	}
	st, ok := f.slots[fs]
	if !ok {
		return fs, nil, f.violate("slot %d used after it was freed", fs.ID)
	}
	return fs, st, nil
}

// NewSlot allocates a simulated slot of n bytes.
func (f *Fake) NewSlot(n int64) (Slot, error) {
	if _, err := f.call("NewSlot", -1, -1, nil); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, f.violate("NewSlot(%d): the size must be positive", n)
	}
	f.nextID++
	s := &FakeSlot{ID: f.nextID, N: n}
	f.slots[s] = &fakeSlot{block: -1}
	f.live += n
	f.peak = max(f.peak, f.live)
	return s, nil
}

// Upload queues block's copy into slot on the copy stream after after, which
// must be a compute fence covering the last Compute that read the slot.
func (f *Fake) Upload(s Slot, block int, after Fence) (Fence, error) {
	af, ferr := f.fence(after)
	id := -1
	if fs, ok := s.(*FakeSlot); ok {
		id = fs.ID
	}
	c, err := f.call("Upload", id, block, af)
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		c.Err = ferr
		return nil, ferr
	}
	fs, st, err := f.slot(s)
	if err != nil {
		c.Err = err
		return nil, err
	}
	switch {
	case block < 0:
		err = f.violate("Upload of block %d", block)
	case af != nil && af.Stream != ComputeStream:
		err = f.violate("Upload of block %d into slot %d after a %s fence; after must be a compute fence", block, fs.ID, af.Stream)
	case st.lastRead > 0 && (af == nil || af.Seq < st.lastRead):
		err = f.violate("Upload of block %d overwrites slot %d (block %d) before the compute that last read it (compute #%d; after = %v)",
			block, fs.ID, st.block, st.lastRead, after)
	}
	if err != nil {
		c.Err = err
		return nil, err
	}
	if st.block >= 0 && f.in[st.block] == fs {
		delete(f.in, st.block)
	}
	if old, ok := f.in[block]; ok { // the block moves: its old slot no longer holds it
		f.slots[old].block = -1
	}
	f.copySeq++
	st.block, st.filled = block, f.copySeq
	f.in[block] = fs
	f.uploads = append(f.uploads, block)
	return FakeFence{CopyStream, f.copySeq}, nil
}

// Wait makes the compute stream wait for fence x.
func (f *Fake) Wait(x Fence) error {
	xf, ferr := f.fence(x)
	c, err := f.call("Wait", -1, -1, xf)
	if err != nil {
		return err
	}
	if ferr != nil {
		c.Err = ferr
		return ferr
	}
	if xf != nil && xf.Stream == CopyStream {
		f.waited = max(f.waited, xf.Seq)
	}
	return nil
}

// Done returns the fence at the end of the compute queued so far.
func (f *Fake) Done() (Fence, error) {
	d := FakeFence{ComputeStream, f.computeSeq}
	if _, err := f.call("Done", -1, -1, &d); err != nil {
		return nil, err
	}
	return d, nil
}

// FreeSlot frees a slot; freeing one twice, or one not the fake's, is a
// violation.
func (f *Fake) FreeSlot(s Slot) error {
	id := -1
	if fs, ok := s.(*FakeSlot); ok {
		id = fs.ID
	}
	c, injected := f.call("FreeSlot", id, -1, nil)
	fs, st, err := f.slot(s)
	if err != nil {
		c.Err = err
		return err
	}
	if st.block >= 0 && f.in[st.block] == fs {
		delete(f.in, st.block)
	}
	delete(f.slots, fs)
	f.live -= fs.N
	return injected
}

// Compute simulates block's kernels on the compute stream: a resident block
// always passes; a swapped one must be in a slot and the compute stream must
// have waited for the upload that put it there.
func (f *Fake) Compute(block int) error {
	if block >= 0 && block < len(f.resident) && f.resident[block] {
		f.computeSeq++
		f.computes++
		return nil
	}
	fs, ok := f.in[block]
	if !ok {
		return f.violate("Compute of block %d, which is in no slot (never uploaded, overwritten or freed)", block)
	}
	st := f.slots[fs]
	if st.filled > f.waited {
		return f.violate("Compute of block %d before the compute stream waited for its upload into slot %d (copy #%d; waited up to #%d)",
			block, fs.ID, st.filled, f.waited)
	}
	f.computeSeq++
	st.lastRead = f.computeSeq
	f.computes++
	return nil
}
