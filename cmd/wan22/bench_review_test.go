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
