package main

// A later QA pass: outputs in a folder that cannot be written in are usage
// errors before any work, for every command alike.

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// unwritableDir returns an existing folder in which no file can be made:
// a read-only temporary folder, or, where permissions do not bind (root),
// /sys on Linux; the test skips when there is none.
func unwritableDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "read-only")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	candidates := []string{dir}
	if runtime.GOOS == "linux" {
		candidates = append(candidates, "/sys")
	}
	for _, d := range candidates {
		if checkWritable(d) != nil {
			return d
		}
	}
	t.Skip("no folder here refuses new files (permissions do not bind for this user)")
	return ""
}

// TestSynthUnwritableFolder: synth into a folder it cannot write in is a
// usage error naming the folder, before the announcement, instead of exit
// status 1 after it naming synth's temporary folder.
func TestSynthUnwritableFolder(t *testing.T) {
	dir := unwritableDir(t)
	out := filepath.Join(dir, "x.gguf")
	code, stdout, stderr := runSynthCtx(context.Background(), append(append([]string{}, tinyDiT...), out)...)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "cannot write in the folder "+dir) || strings.Contains(stderr, "partial") {
		t.Errorf("synth %s: status %d, stdout %q, stderr %q; want status 2 and only \"cannot write in the folder %s\"", out, code, stdout, stderr, dir)
	}
}

// TestBenchOutVideoUnwritable: --out-video naming a folder that cannot be
// written in is refused before the bench runs, not after its first run.
func TestBenchOutVideoUnwritable(t *testing.T) {
	dir := unwritableDir(t)
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--schedule-steps", "2", "--out-video", dir)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--out-video "+dir+": cannot write in the folder") {
		t.Errorf("bench --out-video %s: status %d, stdout %q, stderr %q; want status 2 and \"cannot write in the folder\"", dir, code, stdout, stderr)
	}
}

// TestBenchSynthDirUnwritable: synthetic files to write into a --synth-dir
// that cannot be written in are refused before the first is announced, and
// the message names the folder, not a temporary file in it.
func TestBenchSynthDirUnwritable(t *testing.T) {
	dir := unwritableDir(t)
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--synth-lora", "4", "--synth-dir", dir, "--frames", "5", "--size", "32x16", "--schedule-steps", "2")
	if code == 0 || strings.Contains(stdout, "writing") || !strings.Contains(stderr, "cannot write the synthetic files in the folder "+dir) || strings.Contains(stderr, "partial") {
		t.Errorf("bench --synth-dir %s: status %d, stdout %q, stderr %q; want a failure naming the folder before anything is announced", dir, code, stdout, stderr)
	}
}
