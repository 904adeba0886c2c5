package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"github.com/wan22/wan22"
)

// TestWarnLog: the library's warnings print as the CLI's other warnings
// do, one plain line on standard error with the command's prefix; its
// information lines stay quiet. Attributes given before a group are not in
// it.
func TestWarnLog(t *testing.T) {
	var b bytes.Buffer
	l := reporterLog(newReporter(io.Discard, &b, false))
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

// TestWarnLogComponent: the library's "component" attribute (engine/cuda's
// logger has component=cuda) prefixes the message instead of ending the
// line; inside a group, or not a string, it is an attribute as any other.
func TestWarnLogComponent(t *testing.T) {
	var b bytes.Buffer
	l := reporterLog(newReporter(io.Discard, &b, false))
	l.With("component", "cuda").Warn("pinning host memory refused", "err", "budget exceeded")
	l.Warn("one-off", "component", "vae", "tile", 3)
	l.WithGroup("G").With("component", "x").Warn("grouped")
	l.Warn("numeric", "component", 7)
	l.With("component", "cuda").Warn("record wins", "component", "dit")
	want := "wan22 i2v: warning: cuda: pinning host memory refused (err: budget exceeded)\n" +
		"wan22 i2v: warning: vae: one-off (tile: 3)\n" +
		"wan22 i2v: warning: grouped (G.component: x)\n" +
		"wan22 i2v: warning: numeric (component: 7)\n" +
		"wan22 i2v: warning: dit: record wins\n"
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
		r := newReporter(io.Discard, &b, false)
		r.prefix = "wan22 t:"
		return recordTime{reporterLog(r).Handler(), &hadTime}
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

// TestWarnLogJSON: with --json the library's warnings are "warning" objects
// on standard output, as the command's own are, and nothing reaches standard
// error (they were plain lines there, outside the JSON stream).
func TestWarnLogJSON(t *testing.T) {
	var out, errs bytes.Buffer
	l := reporterLog(newReporter(&out, &errs, true))
	l.Info("loading")
	l.Warn("the prompt is 801 tokens long", "file", "x.gguf")
	if want := `{"message":"the prompt is 801 tokens long (file: x.gguf)","type":"warning"}` + "\n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
	if errs.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errs.String())
	}
}

// TestWarnLogEndsBar: a library warning during a progress bar on a terminal
// ends the bar's line first instead of being written into it.
func TestWarnLogEndsBar(t *testing.T) {
	var errs bytes.Buffer
	r := newReporter(io.Discard, &errs, false)
	errs.WriteString("\rdenoise high 1/8")
	r.bar = true
	reporterLog(r).Warn("late")
	if want := "\rdenoise high 1/8\nwan22 i2v: warning: late\n"; errs.String() != want {
		t.Errorf("stderr = %q, want %q", errs.String(), want)
	}
}

// TestWarnLogConcurrentWithEvents: a library warning logged from another
// goroutine while progress events draw the bar is safe (slog handlers may be
// called concurrently): run with -race.
func TestWarnLogConcurrentWithEvents(t *testing.T) {
	var errs bytes.Buffer
	r := newReporter(io.Discard, &errs, false)
	r.tty = true
	l := reporterLog(r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			l.Warn("from another goroutine")
		}
	}()
	for i := range 50 {
		r.event(wan22.Event{Stage: wan22.HighNoise, Step: i, Steps: 50})
	}
	<-done
	if n := strings.Count(errs.String(), "wan22 i2v: warning: from another goroutine\n"); n != 50 {
		t.Errorf("%d whole warning lines of 50 in:\n%q", n, errs.String())
	}
}
