package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
)

// tinyDiT is a small DiT for synth tests: a few hundred KB.
var tinyDiT = []string{"-dim", "256", "-layers", "2", "-ffn-dim", "512", "-text-dim", "128"}

// runSynthCtx runs synth in-process under ctx.
func runSynthCtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := synth(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// dirEntries lists a folder's names, hidden ones included.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestRunSynth(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.gguf")
	args := append([]string{"-type", "Q4_K", "-seed", "3"}, tinyDiT...)
	code, stdout, stderr := runCLI(append(append([]string{"synth"}, args...), path)...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "writing a ") ||
		!strings.HasSuffix(lines[0], " Q4_K WAN i2v expert (2 layers, dim 256) to "+path) ||
		!strings.HasPrefix(lines[1], "wrote "+path+" (") {
		t.Errorf("stdout %q", stdout)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := dit.ConfigFrom(f)
	want := dit.Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 2, Heads: 2}
	if err != nil || cfg != want {
		t.Errorf("config %+v (%v), want %+v", cfg, err, want)
	}
	if ti, _ := f.Lookup("blocks.1.ffn.0.weight"); ti.Type != gguf.TypeQ4_K {
		t.Errorf("ffn.0 type %v, want Q4_K", ti.Type)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("folder holds %q, want only s.gguf", names)
	}

	// Replacing needs -force; the same seed writes the same bytes.
	before, _ := os.ReadFile(path)
	code, _, stderr = runCLI(append(append([]string{"synth"}, args...), path)...)
	if code != 2 || !strings.Contains(stderr, path+" exists (") || !strings.Contains(stderr, "pass -force to replace it") ||
		!strings.Contains(stderr, "Run `wan22 help synth` for its flags.") {
		t.Errorf("existing file: status %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(append(append([]string{"synth", "-force"}, args...), path)...)
	after, _ := os.ReadFile(path)
	if code != 0 || !bytes.Equal(before, after) {
		t.Errorf("-force: status %d (%s), same bytes %v", code, stderr, bytes.Equal(before, after))
	}
}

// TestSynthSizeEstimate checks the size announced and checked against the
// free disk space against the files dit.WriteSynthetic writes: never less,
// and not more than the header allowance.
func TestSynthSizeEstimate(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		cfg dit.Config
		typ gguf.Type
	}{
		{dit.Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 2}, gguf.TypeQ8_0},
		{dit.Config{Dim: 256, InDim: 16, OutDim: 16, FFNDim: 640, TextDim: 100, FreqDim: 64, Layers: 3}, gguf.TypeQ4_K},
		{dit.Config{Dim: 128, InDim: 48, OutDim: 48, FFNDim: 300, TextDim: 64, FreqDim: 32, Layers: 1}, gguf.TypeQ6_K},
		{dit.Config{Dim: 128, InDim: 36, OutDim: 16, FFNDim: 256, TextDim: 16, FreqDim: 8, Layers: 4}, gguf.TypeBF16},
		{dit.Config{Dim: 128, InDim: 4, OutDim: 4, FFNDim: 128, TextDim: 8, FreqDim: 2, Layers: 2}, gguf.TypeF32},
	} {
		c.cfg.Heads = c.cfg.Dim / dit.HeadDim
		path := filepath.Join(dir, fmt.Sprintf("m%d.gguf", i))
		if err := dit.WriteSynthetic(path, c.cfg, c.typ, 1); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		est, err := ditSyntheticSize(c.cfg, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		allowance := 4096 + 160*int64(len(f.Tensors()))
		f.Close()
		if est < st.Size() || est > st.Size()+allowance {
			t.Errorf("%v %v: estimate %d, file %d bytes: want within [file, file+%d]", c.cfg, c.typ, est, st.Size(), allowance)
		}
	}
	// The default: the Wan2.2-I2V-A14B expert in Q8_0, about 15.4 GB.
	est, err := ditSyntheticSize(dit.I2VA14B(), gguf.TypeQ8_0)
	if err != nil || est < 15.3e9 || est > 15.5e9 {
		t.Errorf("A14B Q8_0 estimate %d (%v), want about 15.4 GB", est, err)
	}
}

// TestSynthBadInput: every bad input is refused before anything is written,
// with a message naming the problem.
func TestSynthBadInput(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.gguf")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "new.gguf")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing the output file (OUT)"},
		{[]string{out, "extra"}, 2, `want one output file, got 2 arguments`},
		{[]string{""}, 2, "the output file name is empty"},
		{[]string{"-in-channels", "1000000000", out}, 2, "-in-channels 1000000000 is out of range: want 1 to 1024"},
		{[]string{"-layers", "1000000000", out}, 2, "-layers 1000000000 is out of range: want 1 to 200 (the A14B experts have 40)"},
		{[]string{"-layers", "0", out}, 2, "-layers 0 is out of range"},
		{[]string{"-dim", "-5", out}, 2, "-dim -5 is out of range: want 128 to 16384"},
		{[]string{"-dim", "200", out}, 2, "-dim 200 is out of range: want a multiple of the head size 128"},
		{[]string{"-freq-dim", "255", out}, 2, "-freq-dim 255 is out of range: want an even number"},
		{[]string{"-ffn-dim", "0", "-text-dim", "99999", out}, 2, "-ffn-dim 0 is out of range"},
		{[]string{"-type", "Q9_9", out}, 2, "-type Q9_9 is not one -kind dit can be written in: want one of Q8_0, F16, BF16"},
		{[]string{"-type", "Q4_0", out}, 2, "-type Q4_0 is not one -kind dit"},
		{[]string{"-kind", "clip", out}, 2, `unknown -kind "clip": want one of dit`},
		{[]string{"-out", "16", out}, 2, "flag provided but not defined: -out"},
		{append(append([]string{}, tinyDiT...), existing), 2, existing + " exists (7 bytes); pass -force to replace it"},
		{append(append([]string{}, tinyDiT...), folder), 2, folder + " is a folder; give a file name"},
		{append(append([]string{"-force"}, tinyDiT...), folder), 2, folder + " is a folder"},
		{append(append([]string{}, tinyDiT...), filepath.Join(dir, "no", "such", "m.gguf")), 2, "the folder " + filepath.Join(dir, "no", "such") + " does not exist"},
	} {
		code, stdout, stderr := runSynthCtx(context.Background(), c.args...)
		if code != c.code || stdout != "" || !strings.HasPrefix(stderr, "wan22 synth: ") || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want status %d and %q", c.args, code, stdout, stderr, c.code, c.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed to %q", b)
	}
	if names := dirEntries(t, dir); len(names) != 2 {
		t.Errorf("folder holds %q, want only existing.gguf and folder/", names)
	}
	if names := dirEntries(t, folder); len(names) != 0 {
		t.Errorf("folder/ holds %q", names)
	}
}

// TestSynthDiskFull: a model larger than the free space is refused with
// both numbers before a byte is written.
func TestSynthDiskFull(t *testing.T) {
	dir := t.TempDir()
	free, ok, err := freeBytes(dir)
	if err != nil || !ok {
		t.Skipf("free space unknown here (%v)", err)
	}
	// The largest model the ranges allow is about 5 TB in F32.
	args := []string{"-type", "F32", "-dim", "16384", "-layers", "200", "-ffn-dim", "131072", filepath.Join(dir, "huge.gguf")}
	cfg := dit.Config{Dim: 16384, InDim: 36, OutDim: 16, FFNDim: 131072, TextDim: 4096, FreqDim: 256, Layers: 200, Heads: 128}
	size, _ := ditSyntheticSize(cfg, gguf.TypeF32)
	if free > size {
		t.Skipf("%s free in %s: more than the largest model", formatGB(free), dir)
	}
	code, stdout, stderr := runSynthCtx(context.Background(), args...)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "not enough disk space in "+dir+": the file needs "+formatGB(size)+", and of the ") ||
		!strings.Contains(stderr, " free synth keeps 64 MiB for the rest of the system") {
		t.Errorf("status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("folder holds %q", names)
	}
}

// TestWriteAtomicCancel cancels a write midway, as Ctrl-C does: writeAtomic
// returns at once, and once the writer (which, like the engine's, takes no
// context) has finished, nothing is left in the folder.
func TestWriteAtomicCancel(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model.gguf")
	ctx, cancel := context.WithCancel(context.Background())
	started, resume := make(chan struct{}), make(chan struct{})
	// write does what gguf.Writer.WriteFile does: a temporary file next to
	// its path, filled, then renamed.
	write := func(path string) error {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		chunk := make([]byte, 1<<20)
		if _, err := f.Write(chunk); err != nil {
			return err
		}
		close(started)
		<-resume
		for range 4 {
			if _, err := f.Write(chunk); err != nil {
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), path)
	}
	done := make(chan error, 1)
	go func() { done <- writeAtomic(ctx, target, write) }()
	<-started
	if names := dirEntries(t, dir); len(names) != 1 || !strings.HasPrefix(names[0], ".model.gguf.wan22-partial-") {
		t.Errorf("while writing, the folder holds %q", names)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("writeAtomic: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writeAtomic did not return 5 s after the cancel")
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("after the cancel, the folder holds %q", names)
	}
	close(resume)
	synthWriters.Wait()
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("after the writer finished, the folder holds %q", names)
	}
}

// TestSynthCancelMidWrite interrupts a real synth while the expert is being
// written: status 130, a message, and no file, partial or whole.
func TestSynthCancelMidWrite(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "big.gguf")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		// About 270 MB: long enough to be caught midway.
		code, stdout, stderr := runSynthCtx(ctx, "-type", "F16", "-dim", "1024", "-layers", "8", "-ffn-dim", "4096", "-text-dim", "256", target)
		done <- result{code, stdout, stderr}
	}()
	var r result
	deadline := time.Now().Add(30 * time.Second)
poll:
	for {
		select {
		case r = <-done:
			t.Fatalf("synth finished before it could be interrupted: %+v", r)
		default:
		}
		if partialBytes(dir) > 1<<20 {
			break poll
		}
		if time.Now().After(deadline) {
			t.Fatal("no partial file after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("synth did not return 5 s after the cancel")
	}
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted; "+target+" was not written and the partial file was removed") {
		t.Errorf("status %d, stderr %q", r.code, r.stderr)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("after the cancel, the folder holds %q", names)
	}
	synthWriters.Wait()
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("after the writer finished, the folder holds %q", names)
	}
}

// partialBytes sums the sizes of the files under dir.
func partialBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestSynthKinds writes a small umT5 encoder and a small VAE through the
// CLI: the files are what they say, of the size announced, and the flags of
// one kind are refused for another.
func TestSynthKinds(t *testing.T) {
	dir := t.TempDir()
	vocab := fmt.Sprint(tokenizer.SyntheticMinVocab)
	for _, c := range []struct {
		args     []string
		announce string
		kind     modelfile.Kind
	}{
		{[]string{"-kind", "t5", "-type", "BF16", "-dim", "64", "-layers", "2", "-ffn-dim", "160", "-heads", "4", "-vocab", vocab},
			" BF16 umT5 encoder (2 layers, dim 64, 4 heads, vocab " + vocab + ")", modelfile.KindT5},
		{[]string{"-kind", "t5", "-dim", "64", "-layers", "1", "-ffn-dim", "256", "-heads", "1", "-vocab", vocab},
			" Q8_0 umT5 encoder (1 layer, dim 64, 1 head, vocab " + vocab + ")", modelfile.KindT5},
		{[]string{"-kind", "vae", "-dim", "16"}, " BF16 WAN 2.1 VAE (base width 16, 16 latent channels, safetensors)", modelfile.KindWanVAE},
		{[]string{"-kind", "vae", "-dim", "8", "-type", "f32"}, " F32 WAN 2.1 VAE (base width 8, ", modelfile.KindWanVAE},
	} {
		path := filepath.Join(dir, fmt.Sprintf("m%d%s", len(dirEntries(t, dir)), synthFormats[c.args[1]]))
		code, stdout, stderr := runSynthCtx(context.Background(), append(c.args, path)...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, c.announce) || !strings.Contains(stdout, " to "+path+"\n") {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want %q announced", c.args, code, stdout, stderr, c.announce)
			continue
		}
		rep, err := modelfile.Inspect(path)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if rep.Info.Kind != c.kind {
			t.Errorf("%q: inspect says %v, want %v", c.args, rep.Info.Kind, c.kind)
		}
		// The announced size is exact for these kinds.
		if want := "writing a " + formatGB(rep.FileSize) + " "; !strings.HasPrefix(stdout, want) {
			t.Errorf("%q: stdout %q, want it to start %q", c.args, stdout, want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-kind", "vae", "-layers", "3", "-heads", "2"}, "-heads, -layers: not a size of -kind vae, which takes -dim"},
		{[]string{"-kind", "t5", "-in-channels", "16"}, "-in-channels: not a size of -kind t5, which takes -dim, -layers, -ffn-dim, -heads, -vocab"},
		{[]string{"-kind", "vae", "-type", "Q8_0"}, "-type Q8_0 is not one -kind vae can be written in: want one of BF16, F32, F16"},
		{[]string{"-kind", "vae", "-dim", "15"}, "-dim 15 is out of range: want an even number for -kind vae"},
		{[]string{"-kind", "vae", "-dim", "100000"}, "-dim 100000 is out of range: want 2 to 1024 (the Wan 2.1 VAE has 96)"},
		{[]string{"-kind", "t5", "-vocab", "10"}, "-vocab 10 is out of range: want " + vocab + " to 1048576"},
		{[]string{"-kind", "t5", "-layers", "1000000000", "-heads", "0"}, "-layers 1000000000 is out of range: want 1 to 128 (umT5-XXL has 24)\n-heads 0 is out of range"},
	} {
		code, stdout, stderr := runSynthCtx(context.Background(), append(c.args, filepath.Join(dir, "bad"))...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want status 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused synth left a file: %v", err)
	}
}

// TestSynthDefaults: the sizes announced for the real models, without
// writing them.
func TestSynthDefaults(t *testing.T) {
	for _, c := range []struct {
		kind   synthKind
		lo, hi float64 // GB
		what   string
	}{
		{synthKinds[0], 15.3e9, 15.5e9, "Q8_0 WAN i2v expert (40 layers, dim 5120)"},
		{synthKinds[1], 6e9, 7e9, "Q8_0 umT5 encoder (24 layers, dim 4096, 64 heads, vocab 256384)"},
		{synthKinds[2], 0.2e9, 0.3e9, "BF16 WAN 2.1 VAE (base width 96, 16 latent channels, safetensors)"},
	} {
		job, err := c.kind.plan(map[string]int{}, c.kind.types[0], 1)
		if err != nil || float64(job.size) < c.lo || float64(job.size) > c.hi || job.what != c.what {
			t.Errorf("%s: %q, %s (%v); want %q of %g to %g GB", c.kind.name, job.what, formatGB(job.size), err, c.what, c.lo/1e9, c.hi/1e9)
		}
	}
}

// TestSynthDanglingLink: a symbolic link at OUT is an existing OUT even when
// it names nothing: kept without -force (a usage error), replaced with it.
func TestSynthDanglingLink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "dangling.gguf")
	if err := os.Symlink("nowhere.gguf", link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	code, stdout, stderr := runSynthCtx(context.Background(), append(slices.Clone(tinyDiT), link)...)
	if code != 2 || stdout != "" || !strings.Contains(stderr, link+" exists (a symbolic link to nowhere.gguf, which does not exist); pass -force to replace the link") {
		t.Errorf("status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if to, err := os.Readlink(link); err != nil || to != "nowhere.gguf" {
		t.Errorf("the link became %q (%v)", to, err)
	}
	code, _, stderr = runSynthCtx(context.Background(), append(append([]string{"-force"}, tinyDiT...), link)...)
	if st, err := os.Lstat(link); code != 0 || err != nil || !st.Mode().IsRegular() {
		t.Errorf("-force: status %d (%s), %v", code, stderr, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere.gguf")); err == nil {
		t.Error("-force wrote through the link instead of replacing it")
	}
	// A link to an existing file: the message says the link is what -force
	// replaces, and -force leaves the file it names as it is.
	real, link2 := filepath.Join(dir, "real.gguf"), filepath.Join(dir, "l.gguf")
	if err := os.WriteFile(real, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.gguf", link2); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runSynthCtx(context.Background(), append(slices.Clone(tinyDiT), link2)...)
	if want := link2 + " exists (a symbolic link to real.gguf, 3 bytes); pass -force to replace the link (real.gguf itself is left as it is)"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("status %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	code, _, stderr = runSynthCtx(context.Background(), append(append([]string{"-force"}, tinyDiT...), link2)...)
	if b, err := os.ReadFile(real); code != 0 || err != nil || string(b) != "abc" {
		t.Errorf("-force over a link: status %d (%s); real.gguf now %q, %v", code, stderr, b, err)
	}
}

// TestSynthExtension: OUT must end in the extension of the format -kind
// writes (.gguf for dit and t5, .safetensors for vae, in any case); the
// refusal names the extension and a name that has it, and writes nothing.
// A folder is left to its own refusal, which suggests a file name in it.
func TestSynthExtension(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string][]string{"dit": tinyDiT, "t5": {"-dim", "64", "-layers", "1", "-ffn-dim", "64", "-heads", "1", "-vocab", fmt.Sprint(tokenizer.SyntheticMinVocab)}, "vae": {"-dim", "2"}}
	for _, c := range []struct{ kind, name, want string }{
		{"dit", "x.txt", "x.txt: -kind dit writes GGUF, which wants the extension .gguf: name the file " + filepath.Join(dir, "x.gguf")},
		{"t5", "umt5", "umt5: -kind t5 writes GGUF, which wants the extension .gguf: name the file " + filepath.Join(dir, "umt5.gguf")},
		{"t5", "enc.bin", "-kind t5 writes GGUF, which wants the extension .gguf: name the file " + filepath.Join(dir, "enc.gguf")},
		{"dit", "wan2.2-tiny", "name the file " + filepath.Join(dir, "wan2.2-tiny.gguf")},
		{"dit", "x.gguf.", "name the file " + filepath.Join(dir, "x.gguf")},
		{"vae", "vae.txt", "-kind vae writes safetensors, which wants the extension .safetensors: name the file " + filepath.Join(dir, "vae.safetensors")},
		{"vae", "x.gguf", "x.gguf: -kind vae writes safetensors, not gguf: name the file " + filepath.Join(dir, "x.safetensors")},
		{"dit", "x.safetensors", "-kind dit writes GGUF, not safetensors: name the file " + filepath.Join(dir, "x.gguf")},
	} {
		code, stdout, stderr := runSynthCtx(context.Background(), append(append([]string{"-kind", c.kind}, sizes[c.kind]...), filepath.Join(dir, c.name))...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("-kind %s %s: status %d, stdout %q, stderr %q; want status 2 and %q", c.kind, c.name, code, stdout, stderr, c.want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("refused names left %v", left)
	}
	for _, c := range []struct{ kind, name string }{{"dit", "X.GGUF"}, {"t5", "t.Gguf"}, {"vae", "V.SafeTensors"}} {
		code, _, stderr := runSynthCtx(context.Background(), append(append([]string{"-kind", c.kind}, sizes[c.kind]...), filepath.Join(dir, c.name))...)
		if code != 0 {
			t.Errorf("-kind %s %s: status %d, stderr %q", c.kind, c.name, code, stderr)
		}
	}
}

// TestSynthWindowsName: on Windows (goos given, so it runs everywhere) an
// OUT that names a device (aux.gguf, NUL), or that ends in a dot, is a
// usage error before anything else is looked at, with or without -force;
// the same names are files elsewhere and pass.
func TestSynthWindowsName(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, want string }{
		{"aux.gguf", "OUT " + filepath.Join(dir, "aux.gguf") + ": AUX is a reserved device name on Windows"},
		{"NUL", "NUL is a reserved device name on Windows"},
		{"com1.tokenizer.gguf", "COM1 is a reserved device name on Windows"},
		{"model.gguf.", "Windows drops a dot or space at the end of a file name"},
		{"a:b.gguf", `Windows does not allow ":" in a file name`},
	} {
		path := filepath.Join(dir, c.name)
		for _, force := range []bool{false, true} {
			err := checkTargetPath(path, ".gguf", force, "windows")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (force %v) on windows: %v; want %q", c.name, force, err, c.want)
			}
			if err := checkTargetPath(path, ".gguf", force, "linux"); err != nil {
				t.Errorf("%s (force %v) on linux: %v", c.name, force, err)
			}
		}
	}
	// The name is checked first: a folder that does not exist is not what
	// a device name is reported as.
	err := checkTargetPath(filepath.Join(dir, "no", "such", "aux.gguf"), ".gguf", false, "windows")
	if err == nil || !strings.Contains(err.Error(), "AUX is a reserved device name") {
		t.Errorf("aux.gguf in a missing folder on windows: %v", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("the checks wrote %q", names)
	}
}
