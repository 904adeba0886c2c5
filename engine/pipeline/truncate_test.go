package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/scheduler"
)

// recorder is a slog.Handler and a ProgressFunc writing to one sequence:
// "warn: MESSAGE" for each warning, "info: MESSAGE" for each information
// line, "STAGE" and "STAGE done" for each stage's first and last event.
type recorder struct{ seq []string }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.seq = append(r.seq, strings.ToLower(rec.Level.String())+": "+rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) progress(ev Event) {
	s := ev.Stage.String()
	if ev.Done {
		s += " done"
	}
	if len(r.seq) == 0 || r.seq[len(r.seq)-1] != s {
		r.seq = append(r.seq, s)
	}
}

func (r *recorder) warnings() []string {
	var ws []string
	for _, s := range r.seq {
		if w, ok := strings.CutPrefix(s, "warn: "); ok {
			ws = append(ws, w)
		}
	}
	return ws
}

// TestI2VWarnsTruncatedPrompt: a prompt umT5 cannot read whole gets one
// warning naming it and its length (counted up to 8192 tokens), logged when
// the text is encoded, before the DiT runs, on both encoder paths
// (resident, streamed); a short prompt gets none, nor does a negative
// prompt no pass uses.
func TestI2VWarnsTruncatedPrompt(t *testing.T) {
	m := tinyModels(t)

	// 8 tokens a repeat in the tiny tokenizer, 800 in all, then EOS.
	long := strings.Repeat("a cat surfing a wave at sunset, ", 100)
	msg := func(which string) string {
		return fmt.Sprintf("the %s is 801 tokens long; umT5 reads only the first 512 (the official pipeline truncates the same way): the rest has no effect — shorten it", which)
	}
	// 16000 tokens, counted only up to 8192.
	huge := strings.Repeat("a cat surfing a wave at sunset, ", 2000)
	hugeMsg := "the prompt is more than 8192 tokens long; umT5 reads only the first 512 (the official pipeline truncates the same way): the rest has no effect — shorten it"
	for _, tc := range []struct {
		name             string
		prompt, negative string
		guidance1        bool // guidance 1 on both experts: no unconditional pass
		stream           bool // a budget that streams the text encoder
		want             []string
	}{
		{"long prompt", long, "", false, false, []string{msg("prompt")}},
		{"huge prompt", huge, "", false, false, []string{hugeMsg}},
		{"long negative streamed", "a cat", long, false, true, []string{msg("negative prompt")}},
		{"both long streamed", long, long, false, true, []string{msg("prompt"), msg("negative prompt")}},
		{"short", "a cat", "", false, false, nil},
		{"unused long negative", "a cat", long, true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions()
			o.Steps = 1
			o.Prompt, o.Negative = tc.prompt, tc.negative
			if tc.guidance1 {
				o.Guidance.High, o.Guidance.Low = 1, 1
				require.False(t, scheduler.NeedsUncond(1))
			}
			rec := &recorder{}
			o.Log, o.Progress = slog.New(rec), rec.progress
			b := &budgeted{counting: newCounting()}
			if tc.stream {
				b.left = streamTextBudget(t, m)
			}
			err := I2V(context.Background(), b, m, testImage(o), o, func([]float32, int) error { return nil })
			require.NoError(t, err)
			require.Equal(t, tc.want, rec.warnings())
			seq := strings.Join(rec.seq, "\n")
			require.Equal(t, tc.stream, strings.Contains(seq, "info: text encoder streamed"), "encoder path: %q", rec.seq)
			if len(tc.want) > 0 {
				// Warned while the text stage runs, so before the DiT's.
				start, warn := strings.Index(seq, "\ntext-encode\n"), strings.Index(seq, "\nwarn: ")
				done, dit := strings.Index(seq, "\ntext-encode done"), strings.Index(seq, "\nhigh-noise")
				require.True(t, 0 <= start && start < warn && warn < done && done < dit, "order: %q", rec.seq)
			}
		})
	}
}
