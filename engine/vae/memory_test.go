package vae_test

import (
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
// method or a double free cannot go unnoticed.
type tracked struct {
	vae.Ops
	t          testing.TB
	mu         sync.Mutex
	allocs     map[engine.Tensor]*alloc
	live, peak int64
}

type alloc struct {
	bytes int64
	freed bool
}

func newTracked(t testing.TB, ops vae.Ops) *tracked {
	return &tracked{Ops: ops, t: t, allocs: map[engine.Tensor]*alloc{}}
}

func (k *tracked) add(x engine.Tensor) engine.Tensor {
	k.mu.Lock()
	defer k.mu.Unlock()
	a := &alloc{bytes: 4 * int64(engine.Numel(x.Shape()))}
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
	y := k.Ops.Reshape(x, shape...)
	k.mu.Lock()
	k.allocs[y] = k.allocs[x] // a view: freeing either frees the data once
	k.mu.Unlock()
	return y
}

func (k *tracked) FromHost(d []float32, shape ...int) engine.Tensor {
	return k.add(k.Ops.FromHost(d, shape...))
}
func (k *tracked) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	return k.add(k.Ops.Weight(info, data))
}
func (k *tracked) Conv3d(x, prev, w, b engine.Tensor, o vae.ConvOpts) engine.Tensor {
	return k.add(k.Ops.Conv3d(x, prev, w, b, o))
}
func (k *tracked) ChannelNorm(x, g engine.Tensor, silu bool) engine.Tensor {
	return k.add(k.Ops.ChannelNorm(x, g, silu))
}
func (k *tracked) FrameAttention(qkv engine.Tensor) engine.Tensor {
	return k.add(k.Ops.FrameAttention(qkv))
}
func (k *tracked) Frames(x engine.Tensor, from, to int) engine.Tensor {
	return k.add(k.Ops.Frames(x, from, to))
}
func (k *tracked) ConcatFrames(a, b engine.Tensor) engine.Tensor {
	return k.add(k.Ops.ConcatFrames(a, b))
}
func (k *tracked) InterleaveFrames(x engine.Tensor) engine.Tensor {
	return k.add(k.Ops.InterleaveFrames(x))
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
		err := v.Decode(z, T, h, w, func(f []float32, first int) error {
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
		if _, err := v.Encode(gaussian(3*F*16*24, uint64(F)), F, 16, 24); err != nil {
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
