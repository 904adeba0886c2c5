package vae_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
)

// cancelling is a tracked backend that cancels a context when the at-th
// Conv3d starts and counts the convs that ran.
type cancelling struct {
	*tracked
	convs, at int
	cancel    context.CancelFunc
}

func (c *cancelling) Conv3d(x, prev, w, b engine.Tensor, o vae.ConvOpts) engine.Tensor {
	c.convs++
	if c.convs == c.at {
		c.cancel()
	}
	return c.tracked.Conv3d(x, prev, w, b, o)
}

// TestCancelStopsWithinOneLayer cancels the context during a convolution of
// every kind of encode and decode on the CPU: the run must return
// context.Canceled without starting another convolution (so a Ctrl-C stops a
// long CPU encode within one layer, not at the end of the stage), and free
// every activation and cache.
func TestCancelStopsWithinOneLayer(t *testing.T) {
	c := &cancelling{tracked: newTracked(t, cpu.New())}
	v := loadSynthTiny(t, c)
	weights := c.live
	const F, T = 5, 2
	video, z := gaussian(3*F*16*16, 1), gaussian(16*T*2*2, 2)
	discard := func([]float32, int) error { return nil }
	for _, run := range []struct {
		name   string
		encode Tiling
		decode Tiling
		f      func(ctx context.Context) error
	}{
		{"Encode", Tiling{}, Tiling{}, func(ctx context.Context) error { _, err := v.Encode(ctx, video, F, 16, 16); return err }},
		{"tiled Encode", Tiling{Size: 1}, Tiling{}, func(ctx context.Context) error { _, err := v.Encode(ctx, video, F, 16, 16); return err }},
		{"Decode", Tiling{}, Tiling{}, func(ctx context.Context) error { return v.Decode(ctx, z, T, 2, 2, discard) }},
		{"tiled Decode", Tiling{}, Tiling{Size: 1}, func(ctx context.Context) error { return v.Decode(ctx, z, T, 2, 2, discard) }},
		{"sequential Decode", Tiling{}, Tiling{Size: 1, Sequential: true}, func(ctx context.Context) error { return v.Decode(ctx, z, T, 2, 2, discard) }},
	} {
		v.EncodeTiling, v.Tiling = run.encode, run.decode
		c.convs, c.at, c.cancel = 0, 0, func() {}
		if err := run.f(context.Background()); err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		total := c.convs
		for _, at := range []int{1, total / 2, total - 1} {
			ctx, cancel := context.WithCancel(context.Background())
			c.convs, c.at, c.cancel = 0, at, cancel
			err := run.f(ctx)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s, cancelled in conv %d of %d: err %v, want context.Canceled", run.name, at, total, err)
			}
			if c.convs != at {
				t.Errorf("%s, cancelled in conv %d of %d: %d convs ran", run.name, at, total, c.convs)
			}
			if c.live != weights {
				t.Errorf("%s, cancelled in conv %d: %d bytes of %v left live", run.name, at, c.live-weights, c.leaked())
			}
		}
	}
	// An already cancelled context runs nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.convs, c.at = 0, 0
	if _, err := v.Encode(ctx, video, F, 16, 16); !errors.Is(err, context.Canceled) || c.convs != 0 {
		t.Errorf("Encode with a cancelled context: err %v after %d convs", err, c.convs)
	}
}

// Tiling is vae.Tiling, short for the table above.
type Tiling = vae.Tiling

// blockCounting is the CPU backend with a WithStop that counts the blocks
// of work its ops run and, at block at, has another goroutine cancel the
// run (the way a Ctrl-C arrives), waiting until it has.
type blockCounting struct {
	*cpu.Backend
	ran, calls atomic.Int64
	late       atomic.Int64 // blocks let through after the cancel had returned
	cancelled  atomic.Bool
	at         int64 // 0: never cancel
	cancel     context.CancelFunc
}

func (c *blockCounting) WithStop(stop func() error) engine.VideoOps {
	return c.Backend.WithStop(func() error {
		if c.calls.Add(1) == c.at {
			done := make(chan struct{})
			go func() { defer close(done); c.cancel() }()
			<-done
			c.cancelled.Store(true)
		}
		if err := stop(); err != nil {
			return err
		}
		if c.cancelled.Load() {
			c.late.Add(1)
		}
		c.ran.Add(1)
		return nil
	})
}

// TestCancelStopsWithinConv cancels an encode on the CPU backend during its
// first convolution: the VAE binds its context to the backend's stop hook, so
// the conv itself stops after a few blocks of work (not at its end), the
// error matches context.Canceled and reads as the VAE's, and the next,
// uncancelled encode gives the same latent as before.
func TestCancelStopsWithinConv(t *testing.T) {
	c := &blockCounting{Backend: cpu.New()}
	v := loadSynthTiny(t, c)
	const H, W = 128, 128
	video := gaussian(3*H*W, 4)
	live, stopLive := context.WithCancel(context.Background()) // cancellable, never cancelled
	defer stopLive()
	want, err := v.Encode(live, video, 1, H, W)
	if err != nil {
		t.Fatal(err)
	}
	total := c.ran.Load()
	if total < 100 {
		t.Fatalf("the encode ran only %d blocks; the test needs a larger frame", total)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.ran.Store(0)
	c.calls.Store(0)
	c.at, c.cancel = 3, cancel
	_, err = v.Encode(ctx, video, 1, H, W)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "vae: Encode stopped: ") {
		t.Fatalf("cancelled encode: err %v, want \"vae: Encode stopped: …\" matching context.Canceled", err)
	}
	// Once the cancel has returned no block starts (the blocks already past
	// the hook finish: how many depends on the scheduler, so only the ones
	// after it are counted), and the encode stopped within its first conv.
	if late, ran := c.late.Load(), c.ran.Load(); late != 0 || ran >= total {
		t.Errorf("%d blocks started after the cancel returned, %d of %d ran in all", late, ran, total)
	}
	c.cancelled.Store(false)

	c.at = 0
	got, err := v.Encode(live, video, 1, H, W)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("encode after a cancel differs from the first (err %v)", err)
	}
}
