package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchListSameValue: a list flag whose items are spelled differently
// but mean one value is a usage error naming the flag and both spellings,
// before any run (the bench ran such a value twice, and --compare matched
// only one of the two runs).
func TestBenchListSameValue(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t) // were a list run, its synthetic models would be small
	savedCUDA := cudaAvailable
	t.Cleanup(func() { cudaAvailable = savedCUDA })
	cudaAvailable = func() bool { return true } // --vram-budget is checked for the GPU
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tiny", "--frames", "05,5"}, `--frames "05,5" lists one value twice, as 05 and 5`},
		{[]string{"--tiny", "--frames", "5,9,+9"}, `--frames "5,9,+9" lists one value twice, as 9 and +9`},
		{[]string{"--tiny", "--size", "96x64,96X64"}, `--size "96x64,96X64" lists one value twice, as 96x64 and 96X64`},
		{[]string{"--tiny", "--size", "96x64,096x64"}, `as 96x64 and 096x64`},
		{[]string{"--device", "cuda", "--vram-budget", "0,0.0"}, `--vram-budget "0,0.0" lists one value twice, as 0 and 0.0`},
		{[]string{"--device", "cuda", "--vram-budget", "32,24,32.00"}, `as 32 and 32.00`},
		// Runs are told apart by the budget's 2-decimal label: 8.001 is 8 GiB.
		{[]string{"--device", "cuda", "--vram-budget", "8,8.001"}, `as 8 and 8.001`},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "measuring") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	assertEmptyDir(t, tmp)
}

// assertEmptyDir fails t when dir holds anything.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in %s: %v", dir, names)
	}
}

// TestBenchReportIsNotAVideo: --json or --html naming the file a run's
// video goes to in --out-video is a usage error before any run (the report
// replaced the video, which the bench had just written).
func TestBenchReportIsNotAVideo(t *testing.T) {
	tmp := isolateTemp(t)
	videos := t.TempDir()
	for _, flagName := range []string{"--json", "--html"} {
		out := filepath.Join(videos, "bench-32x16-9f-all.avi")
		code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5,9", "--size", "32x16", "--out-video", videos, flagName, out)
		want := flagName + " " + out + " is the video file of the 32x16, 9-frame run in --out-video " + videos
		if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stdout, "measuring") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", flagName, code, stdout, stderr, want)
		}
	}
	assertEmptyDir(t, videos)
	// The same video file through a link to its folder.
	link := filepath.Join(t.TempDir(), "videos")
	if err := os.Symlink(videos, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	out := filepath.Join(videos, "bench-32x16-5f-all.avi")
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--out-video", link, "--json", out)
	if want := "--json " + out + " is the video file of the 32x16, 5-frame run in --out-video " + link; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("through a linked folder: exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
	assertEmptyDir(t, videos)
	assertEmptyDir(t, tmp)
}
