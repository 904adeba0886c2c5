package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

// warnHandler is warnLog's slog.Handler.
type warnHandler struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex // one line at a time, shared by the handlers WithAttrs makes
	attrs  []slog.Attr // from WithAttrs
	group  string      // from WithGroup, "a.b." prefixed to the keys
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(r.Message)
	var parts []string
	add := func(a slog.Attr) bool {
		if !a.Equal(slog.Attr{}) {
			parts = append(parts, h.group+strings.ReplaceAll(a.Key, "_", " ")+": "+a.Value.Resolve().String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *warnHandler) WithGroup(name string) slog.Handler {
	c := *h
	if name != "" {
		c.group += name + "."
	}
	return &c
}
