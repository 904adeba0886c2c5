package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
)

// TestWarnLog: the library's warnings print as the CLI's other messages
// do, one plain line on the writer with the command's prefix; its
// information lines stay quiet. Attributes given before a group are not in
// it.
func TestWarnLog(t *testing.T) {
	var b bytes.Buffer
	l := warnLog("i2v", &b)
	l.Info("loading", "file", "x.gguf")
	l.Warn("the experts' file names say they are swapped", "high_noise_expert", "a_low_noise.gguf", "low_noise_expert", "b_high_noise.gguf")
	l.With("file", "c.gguf").Warn("second")
	l.With("a", "b").WithGroup("G").With("c", "d").Warn("third", "e", "f", slog.Group("H", "i", 1), slog.Group("", "j", "k"), slog.Group("empty"))
	want := "wan22 i2v: warning: the experts' file names say they are swapped (high noise expert: a_low_noise.gguf, low noise expert: b_high_noise.gguf)\n" +
		"wan22 i2v: warning: second (file: c.gguf)\n" +
		"wan22 i2v: warning: third (a: b, G.c: d, G.e: f, G.H.i: 1, G.j: k)\n"
	if got := b.String(); got != want {
		t.Errorf("log =\n%q\nwant\n%q", got, want)
	}
}

// recordTime is a handler under test that lets every level through (the
// warnHandler's are Warn and above; slogtest logs at Info) and notes
// whether the record had a time, which the warnHandler leaves out.
type recordTime struct {
	slog.Handler
	hadTime *bool
}

func (h recordTime) Enabled(context.Context, slog.Level) bool { return true }

func (h recordTime) Handle(ctx context.Context, r slog.Record) error {
	*h.hadTime = !r.Time.IsZero()
	return h.Handler.Handle(ctx, r)
}

func (h recordTime) WithAttrs(as []slog.Attr) slog.Handler {
	return recordTime{h.Handler.WithAttrs(as), h.hadTime}
}

func (h recordTime) WithGroup(name string) slog.Handler {
	return recordTime{h.Handler.WithGroup(name), h.hadTime}
}

// TestWarnLogSlogtest: the warnHandler follows slog's handler rules
// (testing/slogtest): attributes, groups, WithAttrs before and after
// WithGroup, empty attributes and groups, LogValuers resolved. Its line is
// parsed back into the map slogtest reads; the time and the level, which
// the line leaves out by design, are added as slogtest's documentation
// says a handler that drops them should do.
func TestWarnLogSlogtest(t *testing.T) {
	var b bytes.Buffer
	var hadTime bool
	const prefix = "wan22 t: warning: "
	slogtest.Run(t, func(*testing.T) slog.Handler {
		b.Reset()
		return recordTime{warnLog("t", &b).Handler(), &hadTime}
	}, func(t *testing.T) map[string]any {
		line, ok := strings.CutPrefix(b.String(), prefix)
		if !ok || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one warning line: %q", b.String())
		}
		msg, attrs, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " (")
		m := map[string]any{slog.MessageKey: msg, slog.LevelKey: "WARN"}
		if hadTime {
			m[slog.TimeKey] = "left out"
		}
		if attrs == "" {
			return m
		}
		for _, part := range strings.Split(strings.TrimSuffix(attrs, ")"), ", ") {
			key, v, ok := strings.Cut(part, ": ")
			if !ok {
				t.Fatalf("attribute %q of %q is not key: value", part, line)
			}
			g := m
			names := strings.Split(key, ".")
			for _, name := range names[:len(names)-1] {
				sub, ok := g[name].(map[string]any)
				if !ok {
					sub = map[string]any{}
					g[name] = sub
				}
				g = sub
			}
			g[names[len(names)-1]] = v
		}
		return m
	})
}
