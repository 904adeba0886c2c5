package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/internal/benchreport"
)

// TestSeedFlagPlaceholder: the help names the seed's value as its range
// does ("-seed number", "a whole number from 0 to …"); it printed
// "-seed value", the flag package's word for a type of the CLI's own.
func TestSeedFlagPlaceholder(t *testing.T) {
	for _, cmd := range []string{"i2v", "demo", "bench"} {
		code, stdout, stderr := runCLI(cmd, "-h")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "  -seed number\n", cmd)
		require.Contains(t, stdout, "seed: a whole number from 0 to 18446744073709551615", cmd)
		require.NotContains(t, stdout, "-seed value", cmd)
	}
}

// TestBudgetAdviceSentence: the advice added to a memory refusal is a
// sentence naming the command ("… or free memory. In wan22 demo, use a
// smaller -width and -height, or fewer -frames"); it read "With wan22 demo:
// use …", which looked like another message's "wan22 demo:" prefix.
func TestBudgetAdviceSentence(t *testing.T) {
	frames := &wan22.BudgetError{What: "host memory", Need: 3 << 30, Budget: 1 << 30, Width: 4096, Height: 4096, Frames: 1, LargestStageOf: "VAE decode"}
	weights := *frames
	weights.Weights, weights.WeightsStage, weights.WeightsIn = 2<<30, "high-noise", wan22.HighNoise
	for _, c := range []struct {
		err  *wan22.BudgetError
		f    i2vFlags
		want string
	}{
		{frames, i2vFlags{demo: true}, ". In wan22 demo, use a smaller -width and -height, or fewer -frames"},
		{&weights, i2vFlags{demo: true}, ". In wan22 demo, the models are tiny, so free host memory"},
		{frames, i2vFlags{}, ". In wan22 i2v, use a smaller --size or --max-area, or fewer --frames"},
		{frames, i2vFlags{host: 1}, ". In wan22 i2v, raise --host-budget (1 GiB given), or leave it out to check against the memory available; or use a smaller --size"},
	} {
		got := withBudgetAdvice(c.err, &c.f).Error()
		require.Contains(t, got, c.err.Error()+c.want)
		require.Equal(t, 1, strings.Count(got, "wan22"), got)
	}
	got := withBenchBudgetAdvice(frames, benchFlags{}, benchPlan{}, wan22.Models{}, 0).Error()
	require.Equal(t, frames.Error()+". In wan22 bench, use a smaller --size or fewer --frames", got)
}

// TestDemoRefusalsPointToHelp: every refusal of the demo's flags ends with
// where its help is, as its own checks' did: those of i2v's checks it
// shares (-out's folder, -device, -attention), its unexpected arguments and
// its -attention on the CPU ended without it. With -json the error object
// still ends the stream.
func TestDemoRefusalsPointToHelp(t *testing.T) {
	tmp := isolateTemp(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "d.avi")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", filepath.Join(dir, "nodir", "d.avi")}, "the folder"},
		{[]string{"-out", out, "-device", "tpu"}, `-device "tpu": use cpu, cuda or auto`},
		{[]string{"-out", out, "-attention", "int4"}, "-attention"},
		{[]string{"-out", out, "-attention", "int8", "-device", "cpu"}, "-attention int8"},
		{[]string{"-out", out, "-vram-budget", "-1"}, "-vram-budget"},
		{[]string{"-out", out, "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"-out", out, "-width", "17"}, "-width 17"},
	} {
		for _, asJSON := range []bool{false, true} {
			args := append([]string{"demo"}, c.args...)
			if asJSON {
				args = append([]string{"demo", "-json"}, c.args...)
			}
			code, stdout, stderr := runCLI(args...)
			require.Equal(t, 2, code, "%q: %s", args, stderr)
			require.Contains(t, stderr, c.want, args)
			require.True(t, strings.HasSuffix(stderr, "\nRun `wan22 help demo` for its flags.\n"), "%q: %q", args, stderr)
			if asJSON {
				evs := jsonLines(t, stdout)
				require.Len(t, evs, 1, "%q: %q", args, stdout)
				require.Equal(t, "error", evs[0]["type"], args)
				require.NotContains(t, evs[0]["message"], "wan22 help", args)
			}
		}
	}
	require.Empty(t, entries(t, dir))
	require.Empty(t, entries(t, tmp), "demo wrote its tiny models")
}

// TestSynthSeedFromZero: synth's -seed is a whole number from 0, as the
// other commands' seeds, to the largest of the int64 its synthetic weights
// take, refused otherwise before anything is written in the words of
// theirs; it took negative numbers (-seed -1 wrote a file), and its help
// read "-seed int".
func TestSynthSeedFromZero(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	for _, v := range []string{"-1", "-9223372036854775808", "9223372036854775808", "x"} {
		code, stdout, stderr := runCLI("synth", "-kind", "vae", "-dim", "8", "-seed", v, out)
		require.Equal(t, 2, code, "%s: %s", v, stderr)
		require.Empty(t, stdout, v)
		require.Contains(t, stderr, "wan22 synth: -seed "+v+": give a whole number from 0 to 9223372036854775807\n", v)
	}
	require.Empty(t, entries(t, dir))
	code, stdout, stderr := runCLI("synth", "-h")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "  -seed number\n")
	require.Contains(t, stdout, "a whole number from 0 to 9223372036854775807 (default 1)")

	// The largest is taken.
	var seed uint64
	fs := newFlagSet("synth", "", "", io.Discard)
	addSeedFlag(fs, &seed, maxSynthSeed, "")
	require.NoError(t, fs.Parse([]string{"-seed", "9223372036854775807"}))
	require.Equal(t, uint64(9223372036854775807), seed)
}

// TestBenchWholeBySteps: a schedule longer than 8 steps whose every step
// --steps covers (9 steps, 4 high + 5 low, --steps 5) is measured whole:
// the output, the table and the report say so, nothing extrapolated; it
// said "measuring 4 high + 5 low steps per run, extrapolated to 9" of the
// very steps it measured, and the report counted the run as estimated. A
// whole run's line says "measured 1.8 s for the whole schedule", not
// "about 1.8 s at the full schedule" as of an estimate.
func TestBenchWholeBySteps(t *testing.T) {
	isolateTemp(t)
	js := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--schedule-steps", "9",
		"--switch-step", "4", "--steps", "5", "--cfg", "1", "--no-history", "--json", js)
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	for _, want := range []string{
		"measuring the whole 9-step schedule in each run (4 high + 5 low steps), nothing extrapolated (--steps 5 is more than the high-noise expert's 4 steps of the schedule: 4 measured)\n",
		"measured 4 high + 5 low steps: the whole 9-step schedule, nothing extrapolated (",
		"32x16, 5 frames, VRAM all: measured ", " s for the whole schedule, ",
	} {
		require.Contains(t, stdout, want)
	}
	require.NotContains(t, stdout, "extrapolated to")
	require.NotContains(t, stdout, " s at the full schedule")
	rep, err := benchreport.ReadFile(js)
	require.NoError(t, err)
	r := rep.Runs[0]
	require.True(t, r.Whole, "%+v", r)
	require.Equal(t, r.Measured, r.Total)
	require.Len(t, r.HighSteps, 4)
	require.Len(t, r.LowSteps, 5)

	// --steps short of a share still extrapolates.
	var p benchPlan
	f := benchFlags{solver: "unipc", cfg: "1", shift: 5, boundary: 0.9, scheduleSteps: 9, switchStep: 4, steps: 4,
		set: map[string]bool{"switch-step": true, "steps": true, "schedule-steps": true}}
	require.NoError(t, p.schedule(&f))
	require.False(t, p.whole)
	require.Equal(t, [2]int{4, 4}, [2]int{p.measuredHigh, p.measuredLow})
}
