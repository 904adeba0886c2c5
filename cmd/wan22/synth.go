package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/plural"
)

// runSynth implements `wan22 synth [-kind dit|t5|vae] [flags] OUT`: a model
// file with random weights in a real model's layout and sizes.
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
	flags []string    // the size flags that apply to it
	types []gguf.Type // the weight types it can be written in, the default first
	// plan checks the sizes given (set: the size flags on the command
	// line, by name) and plans the file.
	plan func(set map[string]int, wt gguf.Type, seed int64) (synthJob, error)
}

// synthKinds are the values of -kind.
var synthKinds = []synthKind{
	{"dit", []string{"dim", "layers", "ffn-dim", "in-channels", "out-channels", "text-dim", "freq-dim"},
		[]gguf.Type{gguf.TypeQ8_0, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ6_K, gguf.TypeQ4_K, gguf.TypeF32}, planDiT},
	{"t5", []string{"dim", "layers", "ffn-dim", "heads", "vocab"},
		[]gguf.Type{gguf.TypeQ8_0, gguf.TypeBF16, gguf.TypeF16, gguf.TypeQ6_K, gguf.TypeQ4_K, gguf.TypeF32}, planT5},
	{"vae", []string{"dim"},
		[]gguf.Type{gguf.TypeBF16, gguf.TypeF32, gguf.TypeF16}, planVAE},
}

// synthSizeFlags are synth's size flags, all kinds together; each defaults
// to the real model of the kind.
func synthSizeFlags() [][2]string {
	d, t, v := dit.I2VA14B(), t5.UMT5XXL(), vae.Wan21()
	return [][2]string{
		{"dim", fmt.Sprintf("hidden size (dit %d, a multiple of 128; t5 %d; vae base width %d, even)", d.Dim, t.Dim, v.Dim)},
		{"layers", fmt.Sprintf("blocks (dit %d; t5 %d)", d.Layers, t.Layers)},
		{"ffn-dim", fmt.Sprintf("FFN hidden size (dit %d; t5 %d)", d.FFNDim, t.FFN)},
		{"heads", fmt.Sprintf("t5: attention heads of width %d (%d)", t5HeadDim, t.Heads)},
		{"vocab", fmt.Sprintf("t5: vocabulary size; the file carries a synthetic tokenizer (%d)", t.Vocab)},
		{"in-channels", fmt.Sprintf("dit: latent input channels: 36 for i2v, 16 for t2v (%d)", d.InDim)},
		{"out-channels", fmt.Sprintf("dit: latent output channels (%d)", d.OutDim)},
		{"text-dim", fmt.Sprintf("dit: text context width, the text encoder's dim (%d)", d.TextDim)},
		{"freq-dim", fmt.Sprintf("dit: sinusoidal time embedding width, even (%d)", d.FreqDim)},
	}
}

// synth is runSynth under a context that cancels the write.
func synth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	kindNames := make([]string, len(synthKinds))
	for i, k := range synthKinds {
		kindNames[i] = k.name
	}
	fs := newFlagSet("synth", "wan22 synth [-kind dit|t5|vae] [flags] OUT",
		"Writes a model file with random weights in a real model's layout and sizes,\n"+
			"for benchmarks and memory tests without the downloads:\n"+
			"  dit  a Wan2.2-I2V-A14B expert as a city96 GGUF (block linears in -type, other\n"+
			"       matrices F16, small tensors F32): 15.4 GB in Q8_0\n"+
			"  t5   the umT5-XXL text encoder as a city96 GGUF with a synthetic tokenizer\n"+
			"  vae  the Wan 2.1 VAE as ComfyUI's wan_2.1_vae.safetensors\n"+
			"OUT ends in the format's extension: .gguf for dit and t5, .safetensors for vae.\n"+
			"The size flags default to the real model's (in parentheses). The size is\n"+
			"checked against the free disk space (64 MiB of it left free) and announced\n"+
			"before writing (on a terminal, a line shows the bytes written as it goes);\n"+
			"an existing OUT is kept unless -force is given. The file is written under a temporary name\n"+
			"and renamed when complete: an error or Ctrl-C leaves nothing behind.", stderr)
	kind := fs.String("kind", "dit", "what to write: "+strings.Join(kindNames, ", "))
	typeName := fs.String("type", "", "weight type (default: the first listed for the kind)\n"+synthTypeHelp())
	seed := new(uint64)
	*seed = 1
	// From 0, as the other commands' seeds, to the largest of the int64
	// the synthetic weights take.
	addSeedFlag(fs, seed, maxSynthSeed, "random seed (the same seed writes the same file)")
	force := fs.Bool("force", false, "replace OUT if it exists")
	sizes := map[string]*int{}
	for _, f := range synthSizeFlags() {
		sizes[f[0]] = fs.Int(f[0], 0, f[1])
	}
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
	*kind = strings.ToLower(*kind) // as -type, bench's --solver and --device take any case
	k := slices.IndexFunc(synthKinds, func(k synthKind) bool { return k.name == *kind })
	if k < 0 {
		return usageError(stderr, "synth", "unknown -kind %q: want one of %s", *kind, strings.Join(kindNames, ", "))
	}
	// Before the other checks of OUT, whose messages print it raw.
	if err := checkOutputDash("OUT", path, "the model is written to a file", "a file name, such as model"+synthFormats[*kind]); err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	if err := checkNameChars("OUT", path); err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	set := map[string]int{}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		if v, ok := sizes[f.Name]; ok {
			set[f.Name] = *v
			if !slices.Contains(synthKinds[k].flags, f.Name) {
				misplaced = append(misplaced, "-"+f.Name)
			}
		}
	})
	if len(misplaced) > 0 {
		return usageError(stderr, "synth", "%s: not a size of -kind %s, which takes -%s",
			strings.Join(misplaced, ", "), *kind, strings.Join(synthKinds[k].flags, ", -"))
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
	job, err := synthKinds[k].plan(set, wt, int64(*seed))
	if err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	if err := checkSynthExt(*kind, path); err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	if err := checkTargetPath(path, synthFormats[*kind], *force, runtime.GOOS); err != nil {
		return usageError(stderr, "synth", "%v", err)
	}
	if err := checkTargetSpace(path, job.size, synthSmaller(*kind, wt)); err != nil {
		fmt.Fprintf(stderr, "wan22 synth: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "writing a %s %s to %s\n", formatGB(job.size), job.what, path)
	start := time.Now()
	// On a terminal, a line of standard error shows the bytes written: the
	// real models take from seconds to minutes.
	bar := newBenchBar(stderr)
	if bar != nil {
		stdout, stderr = bar.clearing(stdout), bar.clearing(stderr)
	}
	if err := writeAtomicProgress(ctx, path, job.write, bar.written(job.size)); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "wan22 synth: interrupted; %s was not written and the partial file was removed\n", path)
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "wan22 synth: %s\n", synthWriteFailure(path, err))
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

// sizeFlag is one size flag's value: the one given, or the real model's.
type sizeFlag struct {
	name   string // without the dash
	v      *int   // the config field it sets
	lo, hi int
	note   string // the real model's value, for the error
}

// applySizes sets the config fields of the flags given and checks every
// field against its range, naming the flag.
func applySizes(set map[string]int, flags []sizeFlag) error {
	var errs []error
	for _, f := range flags {
		if v, ok := set[f.name]; ok {
			*f.v = v
		}
		errs = append(errs, checkInt("-"+f.name, *f.v, f.lo, f.hi, f.note))
	}
	return errors.Join(errs...)
}

// planDiT checks a DiT configuration against sane ranges and plans its file.
func planDiT(set map[string]int, wt gguf.Type, seed int64) (synthJob, error) {
	cfg := dit.I2VA14B()
	if err := applySizes(set, []sizeFlag{
		{"dim", &cfg.Dim, dit.HeadDim, 16384, "the A14B experts have 5120"},
		{"layers", &cfg.Layers, 1, 200, "the A14B experts have 40"},
		{"ffn-dim", &cfg.FFNDim, 1, 131072, "the A14B experts have 13824"},
		{"in-channels", &cfg.InDim, 1, 1024, "36 for i2v, 16 for t2v"},
		{"out-channels", &cfg.OutDim, 1, 1024, "16 for WAN 2.1 VAE latents"},
		{"text-dim", &cfg.TextDim, 1, 16384, "4096 for umT5-XXL"},
		{"freq-dim", &cfg.FreqDim, 2, 4096, "256 in every WAN model"},
	}); err != nil {
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
		what:  fmt.Sprintf("%v WAN %s expert (%s, dim %d)", wt, variant, plural.Count(cfg.Layers, "layer"), cfg.Dim),
		size:  size,
		write: func(path string) error { return dit.WriteSynthetic(path, cfg, wt, seed) },
	}, nil
}

// t5HeadDim is the attention head width of every umT5 size; -heads sets
// the attention width to heads × t5HeadDim.
const t5HeadDim = 64

// planT5 checks a umT5 configuration and plans its file.
func planT5(set map[string]int, wt gguf.Type, seed int64) (synthJob, error) {
	cfg := t5.UMT5XXL()
	if err := applySizes(set, []sizeFlag{
		{"dim", &cfg.Dim, 1, 16384, "umT5-XXL has 4096"},
		{"layers", &cfg.Layers, 1, 128, "umT5-XXL has 24"},
		{"ffn-dim", &cfg.FFN, 1, 131072, "umT5-XXL has 10240"},
		{"heads", &cfg.Heads, 1, 256, "umT5-XXL has 64"},
		{"vocab", &cfg.Vocab, tokenizer.SyntheticMinVocab, 1 << 20, "umT5 has 256384; the synthetic tokenizer needs the minimum"},
	}); err != nil {
		return synthJob{}, err
	}
	cfg.Inner = cfg.Heads * t5HeadDim
	size, err := t5.SyntheticSize(cfg, wt)
	if err != nil {
		return synthJob{}, err
	}
	return synthJob{
		what: fmt.Sprintf("%v umT5 encoder (%s, dim %d, %s, vocab %d)", wt, plural.Count(cfg.Layers, "layer"),
			cfg.Dim, plural.Count(cfg.Heads, "head"), cfg.Vocab),
		size:  size,
		write: func(path string) error { return t5.WriteSynthetic(path, cfg, wt, seed) },
	}, nil
}

// planVAE checks a VAE configuration and plans its file.
func planVAE(set map[string]int, wt gguf.Type, seed int64) (synthJob, error) {
	cfg := vae.Wan21()
	if err := applySizes(set, []sizeFlag{{"dim", &cfg.Dim, 2, 1024, "the Wan 2.1 VAE has 96"}}); err != nil {
		return synthJob{}, err
	}
	if cfg.Dim%2 != 0 {
		return synthJob{}, &FlagRangeError{Flag: "-dim", Value: fmt.Sprint(cfg.Dim), Want: "an even number for -kind vae"}
	}
	size, err := vae.SyntheticSize(cfg, wt)
	if err != nil {
		return synthJob{}, err
	}
	return synthJob{
		what:  fmt.Sprintf("%v WAN 2.1 VAE (base width %d, %d latent channels, safetensors)", wt, cfg.Dim, cfg.ZDim),
		size:  size,
		write: func(path string) error { return vae.WriteSynthetic(path, cfg, wt, seed) },
	}, nil
}

// synthFormats is the file format each -kind writes, as its extension.
var synthFormats = map[string]string{"dit": ".gguf", "t5": ".gguf", "vae": ".safetensors"}

// checkSynthExt refuses an output name that does not end in the extension
// of the format -kind writes (in any case): a DiT or encoder named .txt or
// .safetensors, or a VAE named .gguf, would be mislabelled. The refusal
// names the extension wanted and a file name that has it. An existing
// folder is left to checkTargetPath, which suggests a file name inside it,
// and so is a path wrapped in quotes that are part of it ("m.gguf" quoted
// twice), which it says is (checkOutputName's wrappedQuotesAdvice): the
// extension is wrong only by the closing quote. So is a name that is
// wholly a variable no shell expanded ('$OUT', %OUT% in PowerShell), which
// it says holds the variable's name (wholeVarNameAdvice), where "name the
// file $OUT.gguf" would keep the variable's name in it.
func checkSynthExt(kind, path string) error {
	want := synthFormats[kind]
	ext := filepath.Ext(path)
	if strings.EqualFold(ext, want) || wrappedQuotesAdvice(path) != "" || wholeVarNameAdvice(path, runtime.GOOS, os.Getenv) != "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil
	}
	format := map[string]string{".gguf": "GGUF", ".safetensors": "safetensors"}[want]
	if trimmed := strings.TrimRightFunc(path, unicode.IsSpace); trimmed != path && strings.EqualFold(filepath.Ext(trimmed), want) {
		// "m.gguf " (a name copied with the space after it): not a file
		// name to suggest an extension after.
		return fmt.Errorf("%q: the name ends in a space after its extension %s: name the file %s", path, filepath.Ext(trimmed), trimmed)
	}
	if strings.EqualFold(ext, ".gguf") || strings.EqualFold(ext, ".safetensors") {
		return fmt.Errorf("%s: -kind %s writes %s, not %s: name the file %s", path, kind,
			format, strings.ToLower(ext[1:]), strings.TrimSuffix(path, ext)+want)
	}
	// The suggestion replaces an extension of letters and digits (x.txt,
	// enc.bin) and keeps anything else (wan2.2-tiny); trailing dots go.
	base := strings.TrimRight(strings.TrimRightFunc(path, unicode.IsSpace), ".")
	if e := filepath.Ext(base); len(e) > 1 && !strings.ContainsFunc(e[1:], func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		base = strings.TrimSuffix(base, e)
	}
	return fmt.Errorf("%s: -kind %s writes %s, which wants the extension %s: name the file %s", path, kind, format, want, base+want)
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

// checkTargetPath checks OUT (path), a usage problem when it fails: the
// system goos (runtime.GOOS) allows its name (checkOutputName: on Windows
// no device name such as aux.gguf, which would fail only once the whole
// file is written), its folder exists (where it does not, a ~, a drive or
// share not there and a variable no shell expanded are said to be so:
// tildeAdvice, missingVolumeAdvice, envVarAdvice), its name is not wholly a
// variable no shell expanded where nothing is there (wholeVarNameAdvice:
// '$OUT'), and nothing is at path (any
// directory entry: a dangling symbolic link too) unless force replaces it,
// which is never a folder (or a link to one) or anything but a regular
// file, and the folder can be written in (a read-only folder would fail
// only after the announcement, naming synth's temporary file). ext is the
// extension of the file name a folder's refusal suggests (".gguf").
func checkTargetPath(path, ext string, force bool, goos string) error {
	if err := checkOutputName("OUT", path, goos); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		if folderNotThere(err, goos) {
			if a := tildeAdvice("OUT", path, goos); a != "" {
				// "Create it first" would make a folder named ~.
				if goos != "windows" { // tildeAdvice's spelling is a flag's
					a = "the shell did not expand ~ to a home folder: it does so only at the start of a word, not in quotes; write " +
						displayName(path) + " without quotes"
					if full := homePath(path); full != "" {
						a += ", or the full path " + displayName(full)
					}
				}
				return fmt.Errorf("the folder %s does not exist: %s", dir, a)
			}
			// Nor a drive, or one named %USERPROFILE%, as checkOutputPath says.
			if a := uncreatableFolderAdvice(path, goos); a != "" {
				return fmt.Errorf("the folder %s does not exist: %s", dir, a)
			}
			return fmt.Errorf("the folder %s does not exist; create it first", dir)
		}
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	} else if err := checkWritable(dir); err != nil {
		return fmt.Errorf("cannot write in the folder %s: %w", dir, err)
	}
	if a := wholeVarNameAdvice(path, goos, os.Getenv); a != "" {
		// Nor a file named $OUT, as checkOutputPath says.
		return fmt.Errorf("%s: %s", path, a)
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	link := ""
	if st.Mode()&os.ModeSymlink != 0 {
		if target, err := os.Stat(path); err == nil {
			st = target // what the link names; a dangling link stays a link
			link, _ = os.Readlink(path)
		}
	}
	switch {
	case st.IsDir():
		return fmt.Errorf("%s is a folder; give a file name, such as %s", path, filepath.Join(path, "model"+ext))
	case st.Mode()&os.ModeSymlink != 0:
		if !force {
			to, _ := os.Readlink(path)
			return fmt.Errorf("%s exists (a symbolic link to %s, which does not exist); pass -force to replace the link", path, to)
		}
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file", path)
	case !force && link != "":
		return fmt.Errorf("%s exists (a symbolic link to %s, %s); pass -force to replace the link (%s itself is left as it is)", path, link, formatGB(st.Size()), link)
	case !force:
		return fmt.Errorf("%s exists (%s); pass -force to replace it", path, formatGB(st.Size()))
	}
	return nil
}

// synthDiskReserve is the free space synth leaves on the disk it writes to,
// for the rest of the system.
const synthDiskReserve = 64 << 20

// checkTargetSpace checks that the file system of path has room for a file
// of size bytes, synthDiskReserve left over; smaller names the flags that
// make the file smaller (synthSmaller).
func checkTargetSpace(path string, size int64, smaller string) error {
	dir := filepath.Dir(path)
	free, ok, err := freeBytes(dir)
	if err != nil {
		return fmt.Errorf("checking the free space in %s: %w", dir, err)
	}
	if ok && size > free-synthDiskReserve {
		return synthSpaceError(dir, size, free, smaller)
	}
	return nil
}

// synthSpaceError refuses a file of size bytes in dir, whose disk has free
// bytes free: what to do is to free space or write elsewhere, and to make
// the model smaller with the flags smaller names only where some room is
// left (a disk with less free than synthDiskReserve takes no model at all).
func synthSpaceError(dir string, size, free int64, smaller string) error {
	advice := "free some space or write elsewhere"
	if free > synthDiskReserve {
		advice = "free some space, write elsewhere, or make the model smaller (" + smaller + ")"
	}
	return fmt.Errorf("not enough disk space in %s: the file needs %s, and of the %s free synth keeps %d MiB for the rest of the system; %s",
		dir, formatGB(size), formatGB(max(free, 0)), synthDiskReserve>>20, advice)
}

// synthSmaller names the flags that make a file of -kind kind in weight type
// wt smaller: fewer layers or a smaller type for an expert or an encoder
// (Q4_K, the smallest, unless it is Q4_K already), a smaller base width for
// the VAE, which has no -layers and no type smaller than BF16.
func synthSmaller(kind string, wt gguf.Type) string {
	switch {
	case kind == "vae" && wt == gguf.TypeF32:
		return "-dim, -type BF16"
	case kind == "vae":
		return "-dim"
	case wt == gguf.TypeQ4_K:
		return "-layers"
	}
	return "-layers, -type Q4_K"
}

// synthWriteFailure is the message for a write that failed: a full disk or
// a file size limit is said in words with what to do, and, the partial file
// being gone, the write's error (which names it) follows in parentheses.
func synthWriteFailure(path string, err error) string {
	if _, kept := errors.AsType[*atomicfile.KeptError](err); kept {
		return err.Error() // the finished file was kept under another name, which the error gives
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Sprintf("%s was not written: the disk became full while writing (another program may have filled it); free some space or write elsewhere, and nothing was left behind (%v)", path, err)
	case errors.Is(err, syscall.EFBIG):
		return fmt.Sprintf("%s was not written: the file is larger than this file system or the process's file size limit (ulimit -f) allows; write elsewhere or make the model smaller, and nothing was left behind (%v)", path, err)
	}
	return err.Error()
}
