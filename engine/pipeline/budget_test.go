package pipeline

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
)

// budgeted is the counting CPU backend with a device budget: the stages
// that ask for it find left[i] bytes free at their i-th question (0: no
// limit).
type budgeted struct {
	*counting
	left  []int64
	calls int
}

func (b *budgeted) DeviceBudget() (limit, inUse int64) {
	i := b.calls
	b.calls++
	if i >= len(b.left) {
		return 0, 0
	}
	return b.left[i], 0
}

// TestStageBudgets runs the tiny pipeline with budgets that force the text
// encoder to stream (the video is then the same as without a budget: the
// streamed encoder gives the same contexts) and budgets that no VAE tiling
// can meet (a BudgetError before the stage runs, nothing left allocated).
func TestStageBudgets(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Steps = 2
	want, _, err := collect(t, newCounting(), m, o)
	require.NoError(t, err)

	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	b := &budgeted{counting: newCounting(), left: streamTextBudget(t, m)}
	got, _, err := collect(t, b, m, o)
	require.NoError(t, err)
	require.Equal(t, 3, b.calls, "one budget question per stage outside the DiT")
	require.Equal(t, want, got, "streaming the text encoder changed the video")
	require.Contains(t, logs.String(), "text encoder streamed block by block")
	n, ops := b.alive()
	require.Zero(t, n, "tensors left alive: %v", ops)

	for _, tc := range []struct {
		name string
		left []int64
		half vae.Half
		last Stage // the last stage that completes
	}{
		{"encode", []int64{1 << 20}, vae.Encoder, -1},
		{"decode", []int64{0, 0, 1 << 20}, vae.Decoder, LowNoise},
	} {
		b := &budgeted{counting: newCounting(), left: tc.left}
		frames := 0
		_, events, err := collect(t, b, m, o)
		var be *vae.BudgetError
		require.ErrorAs(t, err, &be, tc.name)
		require.Equal(t, tc.half, be.Half)
		require.Equal(t, int64(1<<20), be.Budget)
		last := Stage(-1)
		for _, ev := range events {
			if ev.Done {
				last = ev.Stage
			}
			if ev.Stage == VAEDecode && ev.Step > 0 {
				frames++
			}
		}
		require.Equal(t, tc.last, last, tc.name)
		require.Zero(t, frames, "%s: frames decoded before the budget error", tc.name)
		n, ops := b.alive()
		require.Zero(t, n, "%s: tensors left alive: %v", tc.name, ops)
	}
}

// TestPlanStages plans the real models' stages at 1280×720 over budgets
// from an RTX 5090's to one nothing fits.
func TestPlanStages(t *testing.T) {
	const gib = 1 << 30
	vc, tc := vae.Wan21(), t5.UMT5XXL()
	for _, c := range []struct {
		budget              int64
		encode, decode, seq bool // tiled encode, tiled decode, sequential decode
		stream              bool
	}{
		{0, false, false, false, false},
		{32 * gib, false, false, false, false},
		{16 * gib, false, true, false, false},
		{10 * gib, true, true, true, true},
	} {
		p, err := PlanStages(c.budget, vc, tc, gguf.TypeBF16, 720, 1280)
		require.NoError(t, err, "budget %d", c.budget)
		t.Logf("%.0f GiB: %+v", float64(c.budget)/gib, p)
		require.Equal(t, c.encode, p.Encode.Size > 0, "budget %d: encode %v", c.budget, p.Encode)
		require.Equal(t, c.decode, p.Decode.Size > 0, "budget %d: decode %v", c.budget, p.Decode)
		require.Equal(t, c.seq, p.Decode.Sequential, "budget %d: decode %v", c.budget, p.Decode)
		require.Equal(t, c.stream, p.StreamText, "budget %d", c.budget)
		if c.budget > 0 {
			require.LessOrEqual(t, max(p.EncodePeak, p.TextPeak, p.DecodePeak), c.budget)
		}
	}
	_, err := PlanStages(gib, vc, tc, gguf.TypeBF16, 720, 1280)
	var be *vae.BudgetError
	require.ErrorAs(t, err, &be)
	wide := t5.Config{Vocab: 256384, Dim: 16384, Inner: 16384, Heads: 64, FFN: 40960, Layers: 24} // one block: 6 GiB
	_, err = PlanStages(2*gib, vc, wide, gguf.TypeBF16, 64, 64)
	var te *t5.BudgetError
	require.ErrorAs(t, err, &te)
	_, err = PlanStages(gib, vc, tc, gguf.TypeBF16, 720, 1281)
	require.ErrorContains(t, err, "multiples of 8")
}
