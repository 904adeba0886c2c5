package video

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ffmpegIn puts an executable "ffmpeg" script in dir and returns its path.
func ffmpegIn(t *testing.T, dir string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake ffmpeg is a shell script")
	}
	p := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// programIn makes FindFFmpeg see the running program as dir/wan22 for the
// rest of the test.
func programIn(t *testing.T, dir string) {
	t.Helper()
	old := executable
	t.Cleanup(func() { executable = old })
	executable = func() (string, error) { return filepath.Join(dir, "wan22"), nil }
}

// TestFindFFmpegCurrentFolder: an ffmpeg found through the current folder
// (here PATH="."; on Windows the current folder is searched implicitly) is
// exec.ErrDot, on Linux too, and is not run: the error says why and where to
// put it, and Create falls back to AVI with that message. An ffmpeg on
// PATH proper after "." is used.
func TestFindFFmpegCurrentFolder(t *testing.T) {
	work, prog := t.TempDir(), t.TempDir()
	ffmpegIn(t, work)
	t.Chdir(work)
	programIn(t, prog)
	t.Setenv("PATH", ".")
	if _, err := exec.LookPath("ffmpeg"); !errors.Is(err, exec.ErrDot) {
		t.Fatalf("exec.LookPath with PATH=. = %v, want exec.ErrDot", err)
	}
	path, err := FindFFmpeg()
	var nf *FFmpegNotFoundError
	if path != "" || !errors.As(err, &nf) || !errors.Is(err, exec.ErrDot) {
		t.Fatalf("FindFFmpeg = %q, %v; want an *FFmpegNotFoundError wrapping exec.ErrDot", path, err)
	}
	for _, s := range []string{filepath.Join(work, "ffmpeg"), "is not run", "next to wan22 (in " + prog + ")", "PATH"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q: %v", s, err)
		}
	}
	f := writeVideo(t, filepath.Join(t.TempDir(), "clip.mp4"), Options{Width: 16, Height: 16}, 1)
	if f.Format() != AVI || !strings.Contains(f.Fallback(), "is not run") {
		t.Errorf("Create: format %v, fallback %q", f.Format(), f.Fallback())
	}

	onPath := t.TempDir()
	want := ffmpegIn(t, onPath)
	t.Setenv("PATH", "."+string(os.PathListSeparator)+onPath)
	if path, err := FindFFmpeg(); path != want || err != nil {
		t.Errorf("with %s on PATH after \".\": FindFFmpeg = %q, %v; want %s", onPath, path, err, want)
	}
}

// TestFindFFmpegProgramFolder: an ffmpeg next to the program is found when
// PATH has none, also when that folder is the current one.
func TestFindFFmpegProgramFolder(t *testing.T) {
	prog := t.TempDir()
	want := ffmpegIn(t, prog)
	programIn(t, prog)
	t.Setenv("PATH", t.TempDir())
	if path, err := FindFFmpeg(); path != want || err != nil {
		t.Errorf("FindFFmpeg = %q, %v; want %s", path, err, want)
	}
	t.Chdir(prog)
	t.Setenv("PATH", ".")
	if path, err := FindFFmpeg(); path != want || err != nil {
		t.Errorf("run in its own folder with PATH=.: FindFFmpeg = %q, %v; want %s", path, err, want)
	}
}

// TestFindFFmpegMissing: no ffmpeg anywhere is exec.ErrNotFound with advice
// to install it, and Create falls back to AVI saying so.
func TestFindFFmpegMissing(t *testing.T) {
	prog := t.TempDir()
	programIn(t, prog)
	t.Setenv("PATH", t.TempDir())
	path, err := FindFFmpeg()
	if path != "" || !errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) {
		t.Fatalf("FindFFmpeg = %q, %v; want exec.ErrNotFound", path, err)
	}
	for _, s := range []string{"install ffmpeg", "next to wan22 (in " + prog + ")"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q: %v", s, err)
		}
	}
	executable = func() (string, error) { return "", errors.New("unknown") }
	if _, err := FindFFmpeg(); err == nil || strings.Contains(err.Error(), "next to") {
		t.Errorf("without the program's folder: %v", err)
	}
	f, err := Create(context.Background(), filepath.Join(t.TempDir(), "clip.mp4"), Options{Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if f.Format() != AVI || !strings.Contains(f.Fallback(), "install ffmpeg") || !strings.Contains(f.Fallback(), f.Path()) {
		t.Errorf("Create: format %v, path %s, fallback %q", f.Format(), f.Path(), f.Fallback())
	}
}
