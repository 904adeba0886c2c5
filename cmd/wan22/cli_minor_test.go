package main

import (
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/benchreport"
)

// TestI2VPromptFlags: --prompt is required as the usage line says (an
// explicit --prompt "" runs without one), and --negative "" runs without a
// negative prompt instead of the official one: its video is that of a
// blank negative, not the default's.
func TestI2VPromptFlags(t *testing.T) {
	args, out := i2vSetup(t)
	noPrompt := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "--prompt" {
			i++
			continue
		}
		noPrompt = append(noPrompt, args[i])
	}
	code, _, stderr := runCLI(append(noPrompt, "--out", filepath.Join(out, "x.avi"))...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, `--prompt is required: say what the video shows (--prompt "" runs without a prompt)`)
	// The help (on stdout) says both: --prompt is required, and "" is a
	// prompt of its own.
	code, stdout, stderr := runCLI("help", "i2v")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `what the video shows (required; --prompt "" runs without one)`)
	require.Contains(t, stdout, `--negative "" runs without one`)

	official, _, _ := i2vVideo(t, noPrompt, filepath.Join(out, "official.avi"), "--prompt", "")
	empty, _, _ := i2vVideo(t, noPrompt, filepath.Join(out, "empty.avi"), "--prompt", "", "--negative", "")
	blank, _, _ := i2vVideo(t, noPrompt, filepath.Join(out, "blank.avi"), "--prompt", "", "--negative", " \t ")
	require.NotEqual(t, official, empty, `--negative "" ran the official negative prompt`)
	require.Equal(t, blank, empty)
}

// TestInspectArgs: flags may follow the files, "--" ends them, and a
// missing file is named as such.
func TestInspectArgs(t *testing.T) {
	m := tinySet(t)
	code, stdout, stderr := runCLI("inspect", m.VAE, "-v")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "decoder.conv1") // -v lists the tensors
	missing := filepath.Join(t.TempDir(), "nonexist.gguf")
	code, _, stderr = runCLI("inspect", missing)
	require.Equal(t, 1, code)
	require.Equal(t, "wan22 inspect: "+missing+" does not exist\n", stderr)
	code, _, stderr = runCLI("inspect", "--", "-v")
	require.Equal(t, 1, code)
	require.Equal(t, "wan22 inspect: -v does not exist\n", stderr)
	code, _, stderr = runCLI("inspect", m.VAE, "-x")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "flag provided but not defined: -x")
}

// TestVersion: wan22 version and --version print the module version, the Go
// version and whether the binary has CUDA.
func TestVersion(t *testing.T) {
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	cudaAvailable = func() bool { return false }
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 0, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "wan22 "), stdout)
		require.Contains(t, stdout, ", go1.")
		require.Contains(t, stdout, "CPU only (built without CUDA")
	}
	info := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	line := versionLine(info, true)
	require.True(t, strings.HasPrefix(line, "wan22 (devel) (commit 0123456789ab, modified), go1.26.0 "), line)
	require.True(t, strings.HasSuffix(line, ", with CUDA"), line)
	_, stdout, _ := runCLI("help")
	require.Contains(t, stdout, "version  print the version")
}

// TestI2VEstimateShape: a bench of the tiny models gives no estimate for
// A14B experts nor the reverse, and an estimate under a second is not
// printed as "about 0s".
func TestI2VEstimateShape(t *testing.T) {
	rep := func(kind string) benchreport.Report {
		return benchreport.Report{Settings: benchreport.Settings{Models: benchreport.Models{Kind: kind}},
			Runs: []benchreport.Run{{Width: 32, Height: 16, Frames: 5, Status: benchreport.StatusOK}}}
	}
	a14b, tiny := dit.I2VA14B(), tinymodels.DiT()
	hist := []benchreport.Report{rep("tiny"), rep("synthetic"), rep("")}
	kinds := func(rs []benchreport.Report) (ks []string) {
		for _, r := range rs {
			ks = append(ks, r.Settings.Models.Kind)
		}
		return ks
	}
	require.Equal(t, []string{"tiny"}, kinds(sameShapeRuns(hist, tiny)))
	require.Equal(t, []string{"synthetic"}, kinds(sameShapeRuns(hist, a14b)))
	other := tiny
	other.Layers = 1
	require.Empty(t, sameShapeRuns(hist, other)) // a report without a kind is left out, never assumed

	// A real expert's file is read for its shape.
	m := tinySet(t)
	r := rep("real")
	r.Settings.Models.High = m.High
	require.Len(t, sameShapeRuns([]benchreport.Report{r}, tiny), 1)
	require.Empty(t, sameShapeRuns([]benchreport.Report{r}, a14b))
	r.Settings.Models.High = filepath.Join(t.TempDir(), "gone.gguf")
	require.Empty(t, sameShapeRuns([]benchreport.Report{r}, tiny))
	require.Empty(t, sameShapeRuns([]benchreport.Report{r}, a14b)) // a file gone is not assumed to be I2V-A14B

	require.Equal(t, "under a second (b)", estimateText(0.3, "b"))
	require.Equal(t, "about 1s (b)", estimateText(0.7, "b"))
	require.Equal(t, "about "+(267*time.Second).String()+" (b)", estimateText(267, "b"))
}
