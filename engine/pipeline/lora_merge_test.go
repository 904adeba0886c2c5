package pipeline

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/golden"
)

// TestI2VLoRAMerge runs the tiny pipeline with a LoRA merged and at run
// time. The tiny experts are Q8_0 and Q4_K with F16 matrices outside the
// blocks (and where a block's input width is no multiple of the quantized
// block): those are merged, rounded to F16, so the videos agree (relative L2) to
// F16 rounding, not bit for bit; the quantized ones keep the run-time path,
// which the log names.
func TestI2VLoRAMerge(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Steps = 2
	o.Noise = fixedNoise(o)
	plain, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	path := tinyLoRA(t, 3)

	run := func(merge bool) ([]float32, string) {
		t.Helper()
		o := o
		o.LoRAs = []LoRA{{Path: path, Strength: 1, Merge: merge}}
		var logs bytes.Buffer
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		b := newCounting()
		v, _, err := collect(t, b, m, o)
		require.NoError(t, err)
		n, ops := b.alive()
		require.Zero(t, n, "tensors left alive with merge %v: %v", merge, ops)
		return v, logs.String()
	}
	rt, rtLog := run(false)
	merged, log := run(true)
	require.NotContains(t, rtLog, "LoRA merged")
	require.Contains(t, log, `msg="LoRA merged" expert=high-noise`)
	require.Contains(t, log, `msg="LoRA merged" expert=low-noise`)
	require.Regexp(t, `merged=[1-9]`, log, "nothing was merged")
	require.Contains(t, log, "(Q8_0)", "the high-noise expert's quantized matrices are not reported as run time")
	require.Contains(t, log, "(Q4_K)", "the low-noise expert's quantized matrices are not reported as run time")
	require.Greater(t, golden.RelL2(rt, plain), 1e-2, "the LoRA hardly changes the video")
	d := golden.RelL2(merged, rt)
	t.Logf("merged vs run-time: %.3g relative; LoRA vs none: %.3g", d, golden.RelL2(rt, plain))
	require.Less(t, d, 2e-3, "merged LoRA video differs from the run-time one by more than F16 rounding")
}

func TestMergeBytes(t *testing.T) {
	m := tinyModels(t)
	src, _, err := modelfile.Open(m.High)
	require.NoError(t, err)
	defer src.Close()
	bytes := func(loras ...LoRA) int64 {
		opened, done, err := openLoRAs(HighNoise, loras)
		require.NoError(t, err)
		defer done()
		return mergeBytes(src, opened)
	}
	path := tinyLoRA(t, 4)
	require.Zero(t, bytes(LoRA{Path: path, Strength: 1}), "a LoRA without Merge")
	require.Zero(t, bytes(LoRA{Path: path, Strength: 1, Merge: true, Expert: LoRALow}), "a LoRA of the other expert")
	// text_embedding.0 is F16 in every tiny expert: at least its bytes,
	// counted once for two LoRAs.
	c := tinymodels.DiT()
	one := bytes(LoRA{Path: path, Strength: 1, Merge: true})
	require.GreaterOrEqual(t, one, int64(2*c.Dim*c.TextDim))
	require.Equal(t, one, bytes(LoRA{Path: path, Strength: 1, Merge: true}, LoRA{Path: tinyLoRA(t, 5), Strength: 1, Merge: true}))
}
