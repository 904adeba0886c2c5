package vae_test

import (
	"context"
	"errors"
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
