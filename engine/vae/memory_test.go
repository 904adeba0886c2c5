package vae_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
)

// tracked wraps a backend and counts the bytes of the tensors alive on it
// (weights and activations, 4 bytes an element), keeping the peak. Every
// method the VAE calls that makes a tensor is wrapped; freeing a tensor the
// tracker did not see, or freeing one twice, is reported, so an unwrapped
// method or a double free cannot go unnoticed. It counts the ops it runs and
// can make the failAt-th fail, like a device backend out of memory.
type tracked struct {
	vae.Ops
	t          testing.TB
	mu         sync.Mutex
	allocs     map[engine.Tensor]*alloc
	live, peak int64
	ops        int // ops run so far
	failAt     int // the op that fails (1-based); 0: none
}

type alloc struct {
	op    string // the op that made it
	bytes int64
	freed bool
}

// errInjected is the failure tracked makes an op raise.
var errInjected = errors.New("injected failure")

// op counts an op and fails it when its turn has come.
func (k *tracked) op(name string) {
	k.mu.Lock()
	k.ops++
	fail := k.ops == k.failAt
	k.mu.Unlock()
	if fail {
		panic(&engine.Error{Op: name, Err: errInjected})
	}
}

// leaked lists the ops that made the activations still live.
func (k *tracked) leaked() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, a := range k.allocs {
		if !a.freed && a.op != "Weight" {
			out = append(out, a.op)
		}
	}
	return out
}

func newTracked(t testing.TB, ops vae.Ops) *tracked {
	return &tracked{Ops: ops, t: t, allocs: map[engine.Tensor]*alloc{}}
}

func (k *tracked) add(op string, x engine.Tensor) engine.Tensor {
	k.mu.Lock()
	defer k.mu.Unlock()
	a := &alloc{op: op, bytes: 4 * int64(engine.Numel(x.Shape()))}
	k.allocs[x] = a
	k.live += a.bytes
	k.peak = max(k.peak, k.live)
	return x
}

// resetPeak starts a new peak measurement from the live bytes now.
func (k *tracked) resetPeak() { k.mu.Lock(); k.peak = k.live; k.mu.Unlock() }

func (k *tracked) Free(ts ...engine.Tensor) {
	k.mu.Lock()
	for _, x := range ts {
		if x == nil {
			continue
		}
		a, ok := k.allocs[x]
		switch {
		case !ok:
			k.t.Errorf("Free of an untracked tensor %v", x.Shape())
		case a.freed:
			k.t.Errorf("double Free of a tensor %v", x.Shape())
		default:
			a.freed = true
			k.live -= a.bytes
		}
		delete(k.allocs, x)
	}
	k.mu.Unlock()
	k.Ops.Free(ts...)
}

func (k *tracked) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	k.op("Reshape")
	y := k.Ops.Reshape(x, shape...)
	k.mu.Lock()
	k.allocs[y] = k.allocs[x] // a view: freeing either frees the data once
	k.mu.Unlock()
	return y
}

func (k *tracked) FromHost(d []float32, shape ...int) engine.Tensor {
	k.op("FromHost")
	return k.add("FromHost", k.Ops.FromHost(d, shape...))
}
func (k *tracked) ToHost(x engine.Tensor) []float32 {
	k.op("ToHost")
	return k.Ops.ToHost(x)
}
func (k *tracked) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	return k.add("Weight", k.Ops.Weight(info, data))
}
func (k *tracked) Conv3d(x, prev, w, b engine.Tensor, o vae.ConvOpts) engine.Tensor {
	k.op("Conv3d")
	return k.add("Conv3d", k.Ops.Conv3d(x, prev, w, b, o))
}
func (k *tracked) ChannelNorm(x, g engine.Tensor, silu bool) engine.Tensor {
	k.op("ChannelNorm")
	return k.add("ChannelNorm", k.Ops.ChannelNorm(x, g, silu))
}
func (k *tracked) FrameAttention(qkv engine.Tensor) engine.Tensor {
	k.op("FrameAttention")
	return k.add("FrameAttention", k.Ops.FrameAttention(qkv))
}
func (k *tracked) Frames(x engine.Tensor, from, to int) engine.Tensor {
	k.op("Frames")
	return k.add("Frames", k.Ops.Frames(x, from, to))
}
func (k *tracked) ConcatFrames(a, b engine.Tensor) engine.Tensor {
	k.op("ConcatFrames")
	return k.add("ConcatFrames", k.Ops.ConcatFrames(a, b))
}
func (k *tracked) InterleaveFrames(x engine.Tensor) engine.Tensor {
	k.op("InterleaveFrames")
	return k.add("InterleaveFrames", k.Ops.InterleaveFrames(x))
}

func gaussian(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestDecodeMemoryFlat decodes 3 and 9 latent frames and checks that the
// peak of live backend bytes is the same (only the per-layer 2-frame caches
// persist between latent frames; the output goes to the callback) and that
// everything but the weights is freed afterwards. Encode is checked the same
// way with 9 and 21 frames (from the third chunk on, every cache holds its
// full 2 frames, so shorter videos peak lower).
func TestDecodeMemoryFlat(t *testing.T) {
	k := newTracked(t, cpu.New())
	v := loadTiny(t, k)
	weights := k.live
	const h, w = 2, 3
	peaks := map[int]int64{}
	for _, T := range []int{3, 9} {
		k.resetPeak()
		z := gaussian(16*T*h*w, uint64(T))
		frames := 0
		err := v.Decode(context.Background(), z, T, h, w, func(f []float32, first int) error {
			frames += len(f) / (3 * 8 * h * 8 * w)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if frames != 1+4*(T-1) {
			t.Fatalf("T=%d: %d frames", T, frames)
		}
		if k.live != weights {
			t.Errorf("T=%d: %d bytes still live after Decode, want the %d of the weights", T, k.live, weights)
		}
		peaks[T] = k.peak - weights
		t.Logf("decode T=%d: peak %d bytes of activations and caches", T, peaks[T])
	}
	if peaks[3] != peaks[9] || peaks[3] == 0 {
		t.Errorf("decode peak grows with frames: %d bytes for 3 latent frames, %d for 9", peaks[3], peaks[9])
	}

	for _, F := range []int{9, 21} {
		k.resetPeak()
		if _, err := v.Encode(context.Background(), gaussian(3*F*16*24, uint64(F)), F, 16, 24); err != nil {
			t.Fatal(err)
		}
		if k.live != weights {
			t.Errorf("F=%d: %d bytes still live after Encode, want the %d of the weights", F, k.live, weights)
		}
		peaks[F] = k.peak - weights
		t.Logf("encode F=%d: peak %d bytes", F, peaks[F])
	}
	if peaks[9] != peaks[21] {
		t.Errorf("encode peak grows with frames: %d bytes for 9 frames, %d for 21", peaks[9], peaks[21])
	}

	v.Free()
	if k.live != 0 {
		t.Errorf("%d bytes live after Free", k.live)
	}
}

// TestNoLeakOnFailure makes every op of an encode and of a decode (untiled
// and tiled) fail in turn, as a device backend out of memory would, and
// checks that the call returns the failure and leaves nothing live but the
// weights (tracked reports any double free). The runs are long enough to
// reach every layer both in the first chunk and in one with cached frames
// (2 encoder chunks, 2 latent frames) and small enough to repeat for every
// op (one latent pixel; two tiles of one when tiled).
func TestNoLeakOnFailure(t *testing.T) {
	k := newTracked(t, cpu.New())
	v := loadTiny(t, k)
	weights := k.live
	const F, T = 5, 2
	video, z := gaussian(3*F*8*8, 1), gaussian(16*T*1*1, 2)
	wideVideo := gaussian(3*8*16, 3) // one frame of 8×16: two tiles of one latent pixel
	discard := func([]float32, int) error { return nil }
	for _, run := range []struct {
		name string
		f    func() error
	}{
		{"Encode", func() error { _, err := v.Encode(context.Background(), video, F, 8, 8); return err }},
		{"Decode", func() error { v.Tiling = vae.Tiling{}; return v.Decode(context.Background(), z, T, 1, 1, discard) }},
		// Tiles only add states to free: one latent frame (z read as 1×2) is enough.
		{"tiled Decode", func() error {
			v.Tiling = vae.Tiling{Size: 1}
			return v.Decode(context.Background(), z, 1, 1, 2, discard)
		}},
		// Sequential tiles free their state tile by tile (TestSequentialDecode
		// runs them over several frames).
		{"sequential tiled Decode", func() error {
			v.Tiling = vae.Tiling{Size: 1, Sequential: true}
			return v.Decode(context.Background(), z, 1, 1, 2, discard)
		}},
		{"tiled Encode", func() error {
			v.EncodeTiling = vae.Tiling{Size: 1}
			defer func() { v.EncodeTiling = vae.Tiling{} }()
			_, err := v.Encode(context.Background(), wideVideo, 1, 8, 16)
			return err
		}},
	} {
		k.ops = 0
		if err := run.f(); err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		ops := k.ops
		t.Logf("%s: %d ops", run.name, ops)
		for n := 1; n <= ops; n++ {
			k.ops, k.failAt = 0, n
			err := run.f()
			k.failAt = 0
			if !errors.Is(err, errInjected) {
				t.Fatalf("%s, op %d failing: err %v", run.name, n, err)
			}
			if k.live != weights {
				t.Fatalf("%s, op %d failing: %d bytes of %v left live", run.name, n, k.live-weights, k.leaked())
			}
		}
	}
}
