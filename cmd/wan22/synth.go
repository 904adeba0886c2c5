package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
)

// runSynth implements `wan22 synth [flags] OUT.gguf`: a WAN DiT expert with
// random weights, the real A14B shapes by default.
func runSynth(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("synth", "wan22 synth [flags] OUT.gguf",
		"Writes a WAN DiT expert with random weights laid out as a city96 GGUF (block\nlinears in -type, other matrices F16, small tensors F32), for benchmarks and\nmemory tests without the real download. Defaults: Wan2.2-I2V-A14B shapes.", stderr)
	cfg := dit.I2VA14B()
	typeName := fs.String("type", "Q8_0", "ggml type of the block linears (Q8_0, Q6_K, Q4_K, BF16, F16, …)")
	seed := fs.Int64("seed", 1, "random seed; the same seed writes the same file")
	fs.IntVar(&cfg.Dim, "dim", cfg.Dim, "hidden size (a multiple of 128; heads = dim/128)")
	fs.IntVar(&cfg.Layers, "layers", cfg.Layers, "number of blocks")
	fs.IntVar(&cfg.FFNDim, "ffn", cfg.FFNDim, "FFN hidden size")
	fs.IntVar(&cfg.InDim, "in", cfg.InDim, "input channels: 36 for i2v, 16 for t2v")
	fs.IntVar(&cfg.OutDim, "out", cfg.OutDim, "output channels")
	fs.IntVar(&cfg.TextDim, "text", cfg.TextDim, "context width")
	fs.IntVar(&cfg.FreqDim, "freq", cfg.FreqDim, "time embedding width")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	wt, ok := gguf.TypeByName(*typeName)
	if !ok {
		fmt.Fprintf(stderr, "wan22 synth: unknown ggml type %q\n", *typeName)
		return 2
	}
	cfg.Heads = cfg.Dim / dit.HeadDim
	path := fs.Arg(0)
	start := time.Now()
	if err := dit.WriteSynthetic(path, cfg, wt, *seed); err != nil {
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "%s: %s, block linears %s, %.2f GB in %.1f s (%.0f MB/s)\n",
		path, cfg, wt, float64(st.Size())/1e9, secs, float64(st.Size())/1e6/secs)
	return 0
}
