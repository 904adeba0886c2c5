package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/atomicfile"
)

// TestSynthMoveWithoutLinksKeepsFinished: on a file system without hard
// links (FAT32 and exFAT drives on Windows) the finished synthetic file is
// moved into place as writeAtomic moves a file, through renameOutput
// (atomicfile.Rename: retried while another program holds the file, then
// kept beside its path or in the private folder, as a *atomicfile.KeptError
// says), never deleted because its rename failed. It was a plain os.Rename:
// an antivirus scan of the new file on Windows failed the bench, and the
// private folder went with the finished file in it.
func TestSynthMoveWithoutLinksKeepsFinished(t *testing.T) {
	isolateTemp(t)
	saved, savedRename := linkSynth, renameOutput
	t.Cleanup(func() { linkSynth, renameOutput = saved, savedRename })
	linkSynth = func(string, string) error { return errors.New("incorrect function") } // no hard links here
	held := errors.New("the process cannot access the file because it is being used by another process")
	for _, c := range []struct {
		name    string
		besides bool // the rename keeps the file beside its path, else where it was
	}{{"kept beside", true}, {"kept in the private folder", false}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			j := synthFile{role: "VAE", path: filepath.Join(dir, "synth-vae.safetensors"), kind: modelfile.KindWanVAE,
				synthJob: planSynth(t, "vae", map[string]int{"dim": 8}, gguf.TypeBF16)}
			renameOutput = func(from, to string) error {
				if to != j.path { // writeAtomic's own move inside the private folder
					return savedRename(from, to)
				}
				kept := from
				if c.besides {
					kept = filepath.Join(dir, "synth-vae.finished.safetensors")
					if err := os.Rename(from, kept); err != nil {
						return err
					}
				}
				return &atomicfile.KeptError{Target: to, Kept: kept, Err: held}
			}
			_, err := writeSynthFile(context.Background(), dir, j)
			ke, ok := errors.AsType[*atomicfile.KeptError](err)
			if !ok {
				t.Fatalf("err %v, want the *atomicfile.KeptError of the move onto %s", err, j.path)
			}
			if st, err := os.Stat(ke.Kept); err != nil || st.Size() != j.size {
				t.Errorf("the finished file at %s: %v", ke.Kept, err)
			}
			if _, err := os.Lstat(j.path); err == nil {
				t.Errorf("%s is there", j.path)
			}
			if slices.ContainsFunc(atomicfile.Pending(), func(p string) bool { return strings.HasPrefix(p, dir) }) {
				t.Errorf("a path in %s stays registered, to be removed at exit: %v", dir, atomicfile.Pending())
			}
			if got := dirEntries(t, dir); len(got) != 1 || (c.besides && got[0] != "synth-vae.finished.safetensors") {
				t.Errorf("%s holds %v, want the kept file only", dir, got)
			}
		})
	}
}

// TestSynthReusedWhenAnotherBenchFinishedIt: a bench sharing a --synth-dir
// reuses a synthetic file that another bench put in place after this
// bench's first look and before this bench got to writing it, instead of
// writing the whole file again (15 GB for a Q8_0 expert, 28 GB for F16) and
// throwing it away: the look was made once, before the first file, so the
// files after it were written in full, then found taken.
func TestSynthReusedWhenAnotherBenchFinishedIt(t *testing.T) {
	isolateTemp(t)
	dir := t.TempDir()
	files := []synthFile{
		{role: "VAE", path: filepath.Join(dir, "synth-vae.safetensors"), kind: modelfile.KindWanVAE,
			synthJob: planSynth(t, "vae", map[string]int{"dim": 8}, gguf.TypeBF16)},
		{role: "text encoder", path: filepath.Join(dir, "synth-umt5.gguf"), kind: modelfile.KindT5,
			synthJob: planSynth(t, "t5", map[string]int{"dim": 64, "layers": 1, "ffn-dim": 128, "heads": 2, "vocab": 1100}, gguf.TypeQ8_0)},
	}
	saved := renameOutput
	t.Cleanup(func() { renameOutput = saved })
	var other strings.Builder
	renameOutput = func(from, to string) error {
		// As this bench finishes its first file, another writes the second.
		renameOutput = saved
		if err := materialize(context.Background(), dir, files[1:], "", &other); err != nil {
			t.Errorf("the other bench: %v", err)
		}
		return saved(from, to)
	}
	var out strings.Builder
	if err := materialize(context.Background(), dir, files, "", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(other.String(), "writing the synthetic text encoder") {
		t.Fatalf("the other bench did not write the encoder:\n%s", other.String())
	}
	if strings.Contains(out.String(), "writing the synthetic text encoder") || !strings.Contains(out.String(), "reusing the synthetic text encoder "+files[1].path) {
		t.Errorf("the encoder another bench had put in place was written again:\n%s", out.String())
	}
	if got := dirEntries(t, dir); len(got) != 2 {
		t.Errorf("%s holds %v, want the two files", dir, got)
	}
}
