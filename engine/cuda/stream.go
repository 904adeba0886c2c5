//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"gorgonia.org/cu"
)

// Stream is a CUDA stream. Streams do not synchronize with each other (they are created non-blocking);
// order work across streams with events.
type Stream struct {
	d    *Device
	s    cu.Stream
	name string
}

// NewStream creates a stream; it is destroyed by Close.
func (d *Device) NewStream(name string) (*Stream, error) {
	var s *Stream
	err := d.Do(func() error {
		var err error
		s, err = d.newStream(name)
		return err
	})
	return s, err
}

func (d *Device) newStream(name string) (*Stream, error) {
	cs, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return nil, wrap("cuStreamCreate("+name+")", err)
	}
	s := &Stream{d: d, s: cs, name: name}
	d.streams = append(d.streams, s)
	return s, nil
}

// ComputeStream is the device's default stream for kernels (used when a launcher is given nil).
func (d *Device) ComputeStream() *Stream { return d.compute }

// CopyStream is the device's stream for host↔device transfers.
func (d *Device) CopyStream() *Stream { return d.copy }

func (d *Device) stream(s *Stream) *Stream {
	if s == nil {
		return d.compute
	}
	return s
}

// Name is the stream's name.
func (s *Stream) Name() string { return s.name }

// Synchronize waits for the stream's work and reports an error from it.
func (s *Stream) Synchronize() error {
	return s.d.Do(func() error { return asyncErr(wrap("cuStreamSynchronize("+s.name+")", s.s.Synchronize())) })
}

// WaitEvent makes later work on s wait until e has completed (on the device; the host does not block).
func (s *Stream) WaitEvent(e *Event) error {
	return s.d.Do(func() error { return wrap("cuStreamWaitEvent("+s.name+")", s.s.Wait(e.ev, 0)) })
}

// Event is a CUDA event: a point in a stream's work that other streams and the host can wait for.
type Event struct {
	d         *Device
	ev        cu.Event
	timing    bool
	destroyed bool
}

// NewEvent creates an event; timing events can measure elapsed time, others are cheaper to wait on.
func (d *Device) NewEvent(timing bool) (*Event, error) {
	var e *Event
	err := d.Do(func() error {
		flags := cu.DisableTiming
		if timing {
			flags = cu.DefaultEvent
		}
		ev, err := cu.MakeEvent(flags)
		if err != nil {
			return wrap("cuEventCreate", err)
		}
		e = &Event{d: d, ev: ev, timing: timing}
		d.events[e] = struct{}{}
		return nil
	})
	return e, err
}

// Record records the event at the current end of s's work (nil: the compute stream).
func (e *Event) Record(s *Stream) error {
	return e.d.Do(func() error {
		st := e.d.stream(s)
		return wrap("cuEventRecord("+st.name+")", e.ev.Record(st.s))
	})
}

// Synchronize blocks until the event has completed.
func (e *Event) Synchronize() error {
	return e.d.Do(func() error { return asyncErr(wrap("cuEventSynchronize", e.ev.Synchronize())) })
}

// Done reports whether the event has completed, without blocking.
func (e *Event) Done() (bool, error) {
	var done bool
	err := e.d.Do(func() error {
		err := e.ev.Query()
		if err == nil {
			done = true
			return nil
		}
		var ce *Error
		if w := wrap("cuEventQuery", err); errors.As(w, &ce) && ce.Code == 600 { // CUDA_ERROR_NOT_READY
			return nil
		} else {
			return asyncErr(w)
		}
	})
	return done, err
}

// Elapsed returns the time between e and a later event end; both must be timing events that completed.
func (e *Event) Elapsed(end *Event) (time.Duration, error) {
	var ms float64
	err := e.d.Do(func() error {
		if !e.timing || !end.timing {
			return fmt.Errorf("cuda: Event.Elapsed needs timing events (NewEvent(true))")
		}
		var err error
		ms, err = e.ev.Elapsed(end.ev)
		return wrap("cuEventElapsedTime", err)
	})
	return time.Duration(ms * float64(time.Millisecond)), err
}

// Destroy releases the event (Close releases the remaining ones).
func (e *Event) Destroy() error { return e.d.Do(e.destroy) }

func (e *Event) destroy() error {
	if e.destroyed {
		return nil
	}
	e.destroyed = true
	delete(e.d.events, e)
	return wrap("cuEventDestroy", cu.DestroyEvent(&e.ev))
}

// CopyHtoD copies n bytes from src at srcOff into dst, asynchronously on s (nil: the copy stream). From
// pinned memory the call returns at once and the copy overlaps other streams' work; from pageable memory
// the driver stages it and the call returns once src may be reused. src must stay allocated until the
// copy has completed (record an event after it).
func (d *Device) CopyHtoD(s *Stream, dst Mem, src *HostBuffer, srcOff, n int64) error {
	if err := checkHostRange("CopyHtoD source", src, srcOff, n); err != nil {
		return err
	}
	if err := need("CopyHtoD destination", dst, n); err != nil || n == 0 {
		return err
	}
	return d.Do(func() error {
		st := d.copyStream(s)
		// SAFETY: src's memory lies outside the Go heap and stays allocated until Free; the range was checked.
		p := unsafe.Add(src.ptr, srcOff)
		return wrap(fmt.Sprintf("cuMemcpyHtoDAsync(%s, %s)", FormatBytes(n), st.name), cu.MemcpyHtoDAsync(cu.DevicePtr(dst.Ptr), p, n, st.s))
	})
}

// CopyDtoH copies n bytes from src into dst at dstOff, asynchronously on s (nil: the copy stream).
func (d *Device) CopyDtoH(s *Stream, dst *HostBuffer, dstOff int64, src Mem, n int64) error {
	if err := checkHostRange("CopyDtoH destination", dst, dstOff, n); err != nil {
		return err
	}
	if err := need("CopyDtoH source", src, n); err != nil || n == 0 {
		return err
	}
	return d.Do(func() error {
		st := d.copyStream(s)
		// SAFETY: as in CopyHtoD.
		p := unsafe.Add(dst.ptr, dstOff)
		return wrap(fmt.Sprintf("cuMemcpyDtoHAsync(%s, %s)", FormatBytes(n), st.name), cu.MemcpyDtoHAsync(p, cu.DevicePtr(src.Ptr), n, st.s))
	})
}

// CopyDtoD copies n bytes between device ranges, asynchronously on s (nil: the compute stream).
func (d *Device) CopyDtoD(s *Stream, dst, src Mem, n int64) error {
	if err := need("CopyDtoD destination", dst, n); err != nil || n == 0 {
		return err
	}
	if err := need("CopyDtoD source", src, n); err != nil {
		return err
	}
	return d.Do(func() error {
		st := d.stream(s)
		return wrap(fmt.Sprintf("cuMemcpyDtoDAsync(%s, %s)", FormatBytes(n), st.name), cu.MemcpyDtoDAsync(cu.DevicePtr(dst.Ptr), cu.DevicePtr(src.Ptr), n, st.s))
	})
}

func (d *Device) copyStream(s *Stream) *Stream {
	if s == nil {
		return d.copy
	}
	return s
}

func checkHostRange(what string, h *HostBuffer, off, n int64) error {
	if h == nil || h.freed {
		return fmt.Errorf("cuda: %s: missing or freed host buffer", what)
	}
	if off < 0 || n < 0 || off+n > h.size {
		return fmt.Errorf("cuda: %s: range [%d, %d) outside the %d-byte buffer", what, off, off+n, h.size)
	}
	return nil
}
