package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
)

// runSynth implements `wan22 synth [flags] OUT`: a model file with random
// weights in a real model's layout, Wan2.2-I2V-A14B sizes by default.
func runSynth(args []string, stdout, stderr io.Writer) int {
	ctx, stop := commandContext()
	defer stop()
	return synth(ctx, args, stdout, stderr)
}

// synthJob is one file synth will write, planned and checked before any
// byte is written.
type synthJob struct {
	what  string                  // "Q8_0 WAN i2v expert (40 layers, dim 5120)"
	size  int64                   // bytes the file will have (an upper bound within a few KB)
	write func(path string) error // writes the file at path, through a temporary file of its own
}

// synthKind is one value of -kind.
type synthKind struct {
	name  string
	flags []string    // the flags that apply to this kind only
	types []gguf.Type // the weight types it can be written in, the default first
}

// synthKinds are the values of -kind.
var synthKinds = []synthKind{
	{"dit", []string{"dim", "layers", "ffn-dim", "in-channels", "out-channels", "text-dim", "freq-dim"},
		[]gguf.Type{gguf.TypeQ8_0, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ6_K, gguf.TypeQ4_K, gguf.TypeF32}},
}

// synth is runSynth under a context that cancels the write.
func synth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	kindNames := make([]string, len(synthKinds))
	for i, k := range synthKinds {
		kindNames[i] = k.name
	}
	fs := newFlagSet("synth", "wan22 synth [flags] OUT",
		"Writes a model file with random weights in a real model's layout, for\n"+
			"benchmarks and memory tests without the download. -kind dit writes a WAN DiT\n"+
			"expert as a city96 GGUF (block linears in -type, other matrices F16, small\n"+
			"tensors F32); the default sizes are Wan2.2-I2V-A14B's (a 15.4 GB Q8_0 file).\n"+
			"The size is checked against the free disk space and announced before\n"+
			"writing; an existing OUT is kept unless -force is given. The file is written\n"+
			"under a temporary name and renamed when complete: an error or Ctrl-C leaves\n"+
			"nothing behind.", stderr)
	kind := fs.String("kind", "dit", "what to write: "+strings.Join(kindNames, ", "))
	typeName := fs.String("type", "", "weight type (default: the first listed for the kind)\n"+synthTypeHelp())
	seed := fs.Int64("seed", 1, "random seed; the same seed writes the same file")
	force := fs.Bool("force", false, "replace OUT if it exists")
	cfg := dit.I2VA14B()
	fs.IntVar(&cfg.Dim, "dim", cfg.Dim, "dit: hidden size, a multiple of 128 (heads = dim/128)")
	fs.IntVar(&cfg.Layers, "layers", cfg.Layers, "dit: number of blocks")
	fs.IntVar(&cfg.FFNDim, "ffn-dim", cfg.FFNDim, "dit: FFN hidden size")
	fs.IntVar(&cfg.InDim, "in-channels", cfg.InDim, "dit: latent input channels: 36 for i2v, 16 for t2v")
	fs.IntVar(&cfg.OutDim, "out-channels", cfg.OutDim, "dit: latent output channels")
	fs.IntVar(&cfg.TextDim, "text-dim", cfg.TextDim, "dit: text context width (the text encoder's dim)")
	fs.IntVar(&cfg.FreqDim, "freq-dim", cfg.FreqDim, "dit: sinusoidal time embedding width (even)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	// Everything is checked before anything is written.
	switch {
	case fs.NArg() == 0:
		return usageError(stderr, "synth", "missing the output file (OUT)")
	case fs.NArg() > 1:
		return usageError(stderr, "synth", "want one output file, got %d arguments: %q (flags go before OUT)", fs.NArg(), fs.Args())
	case strings.TrimSpace(fs.Arg(0)) == "":
		return usageError(stderr, "synth", "the output file name is empty")
	}
	path := fs.Arg(0)
	k := slices.IndexFunc(synthKinds, func(k synthKind) bool { return k.name == *kind })
	if k < 0 {
		return usageError(stderr, "synth", "unknown -kind %q: want one of %s", *kind, strings.Join(kindNames, ", "))
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		for _, other := range synthKinds {
			if other.name != *kind && slices.Contains(other.flags, f.Name) && !slices.Contains(synthKinds[k].flags, f.Name) {
				misplaced = append(misplaced, "-"+f.Name)
			}
		}
	})
	if len(misplaced) > 0 {
		return usageError(stderr, "synth", "%s do(es) not apply to -kind %s", strings.Join(misplaced, ", "), *kind)
	}
	wt := synthKinds[k].types[0]
	if *typeName != "" {
		t, ok := gguf.TypeByName(strings.ToUpper(*typeName))
		if !ok || !slices.Contains(synthKinds[k].types, t) {
			return usageError(stderr, "synth", "-type %s is not one -kind %s can be written in: want one of %s",
				*typeName, *kind, typeList(synthKinds[k].types))
		}
		wt = t
	}
	var job synthJob
	var err error
	switch *kind {
	case "dit":
		job, err = planDiT(cfg, wt, *seed)
	}
	if err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	if err := checkTarget(path, job.size, *force); err != nil {
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "writing a %s %s to %s\n", formatGB(job.size), job.what, path)
	start := time.Now()
	if err := writeAtomic(ctx, path, job.write); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "wan22 synth: interrupted; %s was not written and the partial file was removed\n", path)
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}
	secs := max(time.Since(start).Seconds(), 1e-3)
	fmt.Fprintf(stdout, "wrote %s (%d bytes) in %.1f s (%.0f MB/s)\n", path, st.Size(), secs, float64(st.Size())/1e6/secs)
	return 0
}

// planDiT checks a DiT configuration against sane ranges and plans its file.
func planDiT(cfg dit.Config, wt gguf.Type, seed int64) (synthJob, error) {
	checks := []error{
		checkInt("-dim", cfg.Dim, dit.HeadDim, 16384, "the A14B experts have 5120"),
		checkInt("-layers", cfg.Layers, 1, 200, "the A14B experts have 40"),
		checkInt("-ffn-dim", cfg.FFNDim, 1, 131072, "the A14B experts have 13824"),
		checkInt("-in-channels", cfg.InDim, 1, 1024, "36 for i2v, 16 for t2v"),
		checkInt("-out-channels", cfg.OutDim, 1, 1024, "16 for WAN 2.1 VAE latents"),
		checkInt("-text-dim", cfg.TextDim, 1, 16384, "4096 for umT5-XXL"),
		checkInt("-freq-dim", cfg.FreqDim, 2, 4096, "256 in every WAN model"),
	}
	if err := errors.Join(checks...); err != nil {
		return synthJob{}, err
	}
	if cfg.Dim%dit.HeadDim != 0 {
		return synthJob{}, &FlagRangeError{Flag: "-dim", Value: fmt.Sprint(cfg.Dim), Want: fmt.Sprintf("a multiple of the head size %d", dit.HeadDim)}
	}
	if cfg.FreqDim%2 != 0 {
		return synthJob{}, &FlagRangeError{Flag: "-freq-dim", Value: fmt.Sprint(cfg.FreqDim), Want: "an even number (cosine and sine halves)"}
	}
	cfg.Heads = cfg.Dim / dit.HeadDim
	if err := cfg.Validate(); err != nil {
		return synthJob{}, err
	}
	size, err := ditSyntheticSize(cfg, wt)
	if err != nil {
		return synthJob{}, err
	}
	variant := map[int]string{36: "i2v", 16: "t2v", 48: "ti2v"}[cfg.InDim]
	if variant == "" {
		variant = fmt.Sprintf("%d-channel", cfg.InDim)
	}
	return synthJob{
		what:  fmt.Sprintf("%v WAN %s expert (%s, dim %d)", wt, variant, plural(cfg.Layers, "layer"), cfg.Dim),
		size:  size,
		write: func(path string) error { return dit.WriteSynthetic(path, cfg, wt, seed) },
	}, nil
}

// plural writes "1 layer", "40 layers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// synthTypeHelp lists the weight types of every kind for -type's help.
func synthTypeHelp() string {
	var b strings.Builder
	for i, k := range synthKinds {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  %s: %s", k.name, typeList(k.types))
	}
	return b.String()
}

// typeList joins type names with commas.
func typeList(ts []gguf.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// checkTarget checks that a file of size bytes can be written at path: the
// folder exists, path is not a folder or anything but a regular file, an
// existing file is replaced only with force, and the file system has room.
func checkTarget(path string, size int64, force bool) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the folder %s does not exist; create it first", dir)
		}
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	if st, err := os.Stat(path); err == nil {
		switch {
		case st.IsDir():
			return fmt.Errorf("%s is a folder; give a file name, such as %s", path, filepath.Join(path, "model.gguf"))
		case !st.Mode().IsRegular():
			return fmt.Errorf("%s exists and is not a regular file", path)
		case !force:
			return fmt.Errorf("%s exists (%s); pass -force to replace it", path, formatGB(st.Size()))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	free, ok, err := freeBytes(dir)
	if err != nil {
		return fmt.Errorf("checking the free space in %s: %w", dir, err)
	}
	// Keep a little room for the rest of the system.
	const reserve = 64 << 20
	if ok && size > free-reserve {
		return fmt.Errorf("not enough disk space in %s: the file needs %s and %s are free; free some space, write elsewhere, or make the model smaller (-layers, -type Q4_K)",
			dir, formatGB(size), formatGB(max(free, 0)))
	}
	return nil
}
