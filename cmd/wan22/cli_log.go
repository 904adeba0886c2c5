package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// warnLog is the library log (wan22.Options.Log) of the command cmd ("i2v")
// that runs the pipeline: its warnings (experts whose file names say they
// are swapped, …) reach the user on w as the CLI's other messages do, one
// plain line each: "wan22 i2v: warning: MESSAGE (key: value, …)". Its
// information lines stay quiet, since the commands print their own
// progress.
func warnLog(cmd string, w io.Writer) *slog.Logger {
	return slog.New(&warnHandler{prefix: "wan22 " + cmd + ": warning: ", w: w, mu: new(sync.Mutex)})
}

// warnHandler is warnLog's slog.Handler. It follows slog's handler rules
// (checked with testing/slogtest) except that, printing only warnings as
// plain lines, it leaves out the time and the level: an attribute prints as
// "key: value" (underscores in the key as spaces), one in a group as
// "group.key: value", a group's attributes one by one.
type warnHandler struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex // one line at a time, shared by the handlers WithAttrs makes
	parts  []string    // from WithAttrs, "key: value" each, with the groups open then
	group  string      // from WithGroup, "a.b." prefixed to the keys of later attributes
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(r.Message)
	parts := slices.Clone(h.parts)
	r.Attrs(func(a slog.Attr) bool {
		parts = appendAttr(parts, h.group, a)
		return true
	})
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// appendAttr appends attribute a, its value resolved, to parts as "key:
// value" under group ("a.b.", or ""): a group's attributes each under its
// name (under group itself when its key is empty); an empty attribute or
// group adds nothing.
func appendAttr(parts []string, group string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return parts
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			parts = appendAttr(parts, group, g)
		}
		return parts
	}
	return append(parts, group+strings.ReplaceAll(a.Key, "_", " ")+": "+a.Value.String())
}

// WithAttrs adds as under the groups open now: a later WithGroup does not
// put them in its group.
func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.parts = slices.Clone(h.parts)
	for _, a := range as {
		c.parts = appendAttr(c.parts, h.group, a)
	}
	return &c
}

func (h *warnHandler) WithGroup(name string) slog.Handler {
	c := *h
	if name != "" {
		c.group += name + "."
	}
	return &c
}
