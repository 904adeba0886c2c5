package main

import (
	"context"
	"strings"
	"testing"
)

// A --seed from 2^63 - 1 on, which i2v and the library take as a noise
// seed (Request.Seed is a uint64), names and seeds the synthetic files with
// a seed in synth's --seed range (0 to maxSynthSeed), where int64(seed)+1
// made a negative one that synth refuses.
func TestBenchSynthSeedRange(t *testing.T) {
	isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	dir := t.TempDir()
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--vae", m.VAE, "--synth-dir", dir,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--no-history", "--seed", "9223372036854775807")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	names := dirEntries(t, dir)
	if len(names) != 2 {
		t.Fatalf("--synth-dir holds %v, want the expert and the encoder", names)
	}
	for _, n := range names {
		if strings.Contains(n, "seed-") || !strings.Contains(n, "-seed0.") {
			t.Errorf("%s: want the seed 2^63 taken modulo 2^63, 0", n)
		}
	}
	for _, c := range []struct {
		seed uint64
		i    int
		want int64
	}{{0, 0, 1}, {0, 1, 2}, {41, 1, 43}, {1<<63 - 2, 0, 1<<63 - 1}, {1<<63 - 2, 1, 0}, {1 << 63, 0, 1}, {1<<64 - 1, 0, 0}, {1<<64 - 1, 1, 1}} {
		if got := benchSynthSeed(c.seed, c.i); got != c.want {
			t.Errorf("benchSynthSeed(%d, %d) = %d, want %d", c.seed, c.i, got, c.want)
		}
	}
}
