package cpu

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/wan22/wan22/engine"
)

// stopCounter is a WithStop hook that counts the blocks it lets run and,
// when armed, has another goroutine cancel the run's context at block at.
type stopCounter struct {
	ctx   context.Context
	ran   atomic.Int64 // blocks that stop let start
	calls atomic.Int64
	at    int64 // the call that triggers the cancel; 0: never
	fire  chan struct{}
}

func (s *stopCounter) stop() error {
	if s.calls.Add(1) == s.at {
		s.fire <- struct{}{} // the canceller goroutine cancels ctx
		<-s.ctx.Done()
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.ran.Add(1)
	return nil
}

// TestStopMidOp cancels a context from another goroutine while a long CPU op
// runs on a WithStop backend bound to it: the op must stop partway (far fewer
// blocks run than the whole op has), panic with an *engine.Error that
// matches context.Canceled, and leave the backend usable: the same stopping
// backend, uncancelled, then gives the plain backend's result bit for bit.
func TestStopMidOp(t *testing.T) {
	plain := New()
	r := rand.New(rand.NewPCG(7, 8))
	conv := []engine.Tensor{
		plain.FromHost(randVals(r, 8*4*96*96), 8, 4, 96, 96),
		plain.FromHost(randVals(r, 16*8*3*3*3), 16, 8, 3, 3, 3),
		plain.FromHost(randVals(r, 16), 16),
	}
	x := plain.FromHost(randVals(r, 4*2*128*64), 4, 2, 128, 64)
	gamma := plain.FromHost(randVals(r, 4), 4)
	qkv := plain.FromHost(randVals(r, 12*2*8*8), 12, 2, 8, 8)
	ops := []struct {
		name string
		f    func(engine.VideoOps) engine.Tensor
	}{
		{"Conv3d", func(b engine.VideoOps) engine.Tensor {
			return b.Conv3d(conv[0], nil, conv[1], conv[2], engine.ConvOpts{PadT: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1})
		}},
		{"strided Conv3d", func(b engine.VideoOps) engine.Tensor {
			return b.Conv3d(conv[0], nil, conv[1], conv[2], engine.ConvOpts{Stride: 2, PadBottom: 1, PadRight: 1})
		}},
		{"ChannelNorm", func(b engine.VideoOps) engine.Tensor { return b.ChannelNorm(x, gamma, true) }},
		{"FrameAttention", func(b engine.VideoOps) engine.Tensor { return b.FrameAttention(qkv) }},
	}
	for _, op := range ops {
		want := plain.ToHost(op.f(plain))
		sc := &stopCounter{ctx: context.Background(), fire: make(chan struct{})}
		b := plain.WithStop(sc.stop)
		run := func() (y []float32, err error) {
			defer engine.Catch(&err)
			return b.ToHost(op.f(b)), nil
		}
		got, err := run()
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%s: uncancelled run on the stopping backend differs from the plain one (err %v)", op.name, err)
		}
		total := sc.ran.Load()
		if total < 16 {
			t.Fatalf("%s: only %d blocks; the test needs a larger op", op.name, total)
		}

		ctx, cancel := context.WithCancel(context.Background())
		sc.ctx, sc.at = ctx, 3
		sc.ran.Store(0)
		sc.calls.Store(0)
		done := make(chan struct{})
		var before int64 // blocks let run when the cancel came
		go func() {
			defer close(done)
			<-sc.fire
			before = sc.ran.Load()
			cancel()
		}()
		_, err = run()
		<-done
		var ee *engine.Error
		if !errors.Is(err, context.Canceled) || !errors.As(err, &ee) {
			t.Fatalf("%s: cancelled run: err %v, want an *engine.Error matching context.Canceled", op.name, err)
		}
		// Every worker starts at most one more block after the cancel (one
		// that passed its check just before it). Blocks the other workers ran
		// between the firing call and the cancel (the canceller goroutine may
		// wait for a core on a loaded machine) are not the op's fault.
		if ran := sc.ran.Load(); ran-before > int64(plain.workers) || ran >= total/2 {
			t.Errorf("%s: %d of %d blocks ran, %d of them after the cancel (fired at call %d); want at most %d after it",
				op.name, ran, total, ran-before, sc.at, plain.workers)
		}

		sc.ctx, sc.at = context.Background(), 0
		got, err = run()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: run after a cancel differs from the plain backend (err %v)", op.name, err)
		}
	}
}
