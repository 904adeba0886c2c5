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

// reporterLog is the library log (wan22.Options.Log) of a command that runs
// the pipeline (i2v, demo): its warnings (experts whose file names say they
// are swapped, a prompt longer than umT5 reads, …) reach the user through
// r.warn as the command's own warnings do — "wan22 i2v: warning: MESSAGE
// (key: value, …)" on standard error, after ending an open progress bar, or
// with --json a "warning" object on standard output. Its information lines
// stay quiet, since the commands print their own progress.
func reporterLog(r *reporter) *slog.Logger {
	return slog.New(&warnHandler{emit: r.warn, cmd: r.command(), mu: new(sync.Mutex)})
}

// command is the command r reports for ("i2v", "demo"), which its prefix
// ("wan22 i2v:") names.
func (r *reporter) command() string {
	return strings.TrimSuffix(strings.TrimPrefix(r.prefix, "wan22 "), ":")
}

// benchLog is the library log of wan22 bench's runs: each warning prints once
// as "wan22 bench: warning: MESSAGE (key: value, …)" on w, however many of
// the bench's runs give it (every run opens the models again: an 8-bit
// attention warning would otherwise repeat per run).
func benchLog(w io.Writer) *slog.Logger {
	seen := map[string]bool{}
	return slog.New(&warnHandler{mu: new(sync.Mutex), cmd: "bench", emit: func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			fmt.Fprintln(w, "wan22 bench: warning:", msg)
		}
	}})
}

// warnHandler is reporterLog's and benchLog's slog.Handler. It follows slog's handler rules
// (checked with testing/slogtest) except that, printing only warnings as
// plain lines, it leaves out the time and the level: an attribute prints as
// "key: value" (underscores in the key as spaces), one in a group as
// "group.key: value", a group's attributes one by one. The one exception is
// the library's "component" attribute outside any group (engine/cuda's
// logger adds component=cuda to each of its lines): it prefixes the message
// ("cuda: MESSAGE") instead of ending the line as "(…, component: cuda)".
// The line names the command's flags where the library names the Options
// fields they set (flagWords).
type warnHandler struct {
	emit      func(msg string) // takes each warning: the message, then its attributes in parentheses
	cmd       string           // the command whose flags the line names (flagWords)
	mu        *sync.Mutex      // one line at a time, shared by the handlers WithAttrs makes
	parts     []string         // from WithAttrs, "key: value" each, with the groups open then
	group     string           // from WithGroup, "a.b." prefixed to the keys of later attributes
	component string           // from WithAttrs: the "component" attribute outside any group
}

// componentKey is the attribute that names the part of the library a line comes from.
const componentKey = "component"

// componentOf returns a's value when a is a "component" attribute outside any group (group ""), and
// whether it is.
func componentOf(group string, a slog.Attr) (string, bool) {
	if group != "" || a.Key != componentKey {
		return "", false
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindString || v.String() == "" {
		return "", false
	}
	return v.String(), true
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	component := h.component
	parts := slices.Clone(h.parts)
	r.Attrs(func(a slog.Attr) bool {
		if c, ok := componentOf(h.group, a); ok {
			component = c
			return true
		}
		parts = appendAttr(parts, h.group, a)
		return true
	})
	if component != "" {
		b.WriteString(component + ": ")
	}
	b.WriteString(r.Message)
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.emit(flagWords(h.cmd, b.String()))
	return nil
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
		if comp, ok := componentOf(h.group, a); ok {
			c.component = comp
			continue
		}
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
