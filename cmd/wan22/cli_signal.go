package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/wan22/wan22/internal/atomicfile"
)

// commandContext returns the context a command runs under. The first SIGINT
// (Ctrl-C), SIGTERM or SIGHUP (the terminal closed, the ssh session
// dropped), or a write to a closed standard output or error (see
// watchBroken: `wan22 i2v … | head -1`), cancels it, so the command stops its
// current stage (the models check the context between layers), removes what
// it had half written and returns; it prints one line saying so. A second
// signal, while the command is still stopping or cleaning up, quits at once
// with status 130 after removing every temporary output still in progress
// (atomicfile.RemovePending); so does the end of the time the first signal
// leaves, when it leaves one (quitDeadline: Windows closing the console).
// Call the CancelFunc when the command ends: it stops catching the signals,
// so a later Ctrl-C kills the process the usual way.
//
// The messages go to the standard error through the state of its line that
// main's writer of it keeps (watchBroken), so that a progress line shown
// there is ended before them (lineState).
func commandContext() (context.Context, context.CancelFunc) {
	return interruptContext(brokenWriter{os.Stderr, lineOf(os.Stderr)}, os.Exit)
}

// interruptContext is commandContext with the writer of its messages and the
// exit function given (for tests).
func interruptContext(stderr io.Writer, exit func(code int)) (context.Context, context.CancelFunc) {
	return interruptContextFor(stderr, exit, func(s os.Signal) time.Duration { return quitDeadline(s, runtime.GOOS) })
}

// quitDeadline is how long after the signal s the command may take to stop
// on the system goos (runtime.GOOS) before the process quits at once as on
// a second signal, or 0 for no limit. On Windows, SIGTERM is the console
// window closing, the user logging off or the system shutting down, and
// Windows ends the process a few seconds later (about 5 s after the console
// closed) with no chance to remove anything. Removing the partial output at
// once would fail too: Go opens files without FILE_SHARE_DELETE, so Windows
// refuses to delete a file the writers still hold open. So the command gets
// windowsCloseGrace to stop and remove its partial output itself, its
// writers closing their files as they unwind, and then the process removes
// what is left and quits. Elsewhere SIGTERM is a polite kill with no
// deadline.
func quitDeadline(s os.Signal, goos string) time.Duration {
	if goos == "windows" && s == syscall.SIGTERM {
		return windowsCloseGrace
	}
	return 0
}

// windowsCloseGrace is the time a command has to stop after the console
// window closed, before the process quits at once: well inside the 5 s
// Windows waits before it ends the process.
const windowsCloseGrace = 3 * time.Second

// interruptContextFor is interruptContext with the deadline each first
// signal leaves given (quitDeadline, for tests).
func interruptContextFor(stderr io.Writer, exit func(code int), deadline func(os.Signal) time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	done := make(chan struct{})
	go func() {
		why := "interrupted"
		var limit <-chan time.Time // the end of the deadline the first signal leaves, if any
		select {
		case s := <-sigs:
			switch {
			case s == syscall.SIGHUP:
				why = "hangup (the terminal closed)"
			case s == syscall.SIGTERM && runtime.GOOS == "windows":
				why = "the console is closing"
			case s == syscall.SIGTERM:
				why = "terminated"
			}
			if d := deadline(s); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				limit = t.C
			}
		case <-outputBroken:
			why = "the standard output or error was closed"
		case <-done:
			return
		}
		first := time.Now()
		// With a deadline (Windows closing the console) the process quits
		// by itself soon, and no one is left to press Ctrl-C.
		hint := " (Ctrl-C again to quit at once)"
		if limit != nil {
			hint = ""
		}
		fmt.Fprintf(stderr, "wan22: %s; stopping and removing the partial output%s\n", why, hint)
		cancel()
		for {
			select {
			case <-sigs:
			case <-limit:
				quitNow(stderr, exit, "out of time to stop")
				return
			case <-done:
				return
			}
			// `timeout -s INT` and a terminal's Ctrl-C can deliver one press
			// twice (to the process and to its group): a second signal that
			// close to the first is the same one.
			if time.Since(first) >= sameSignal {
				break
			}
		}
		quitNow(stderr, exit, "interrupted again")
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel()
		})
	}
}

// sameSignal is how soon after the first signal another counts as the same
// press, not a second Ctrl-C.
const sameSignal = 20 * time.Millisecond

// stopSignals are the signals that stop a command: Ctrl-C, a polite kill, and
// a hangup (the terminal or the ssh session went away; left alone, the
// runtime would exit at once and leave the partial output behind) — those
// of them the process was not started with ignored. A run under `nohup`
// (SIGHUP ignored) or a script's background job (SIGINT ignored) must go on
// as those tools promise, and catching the signal would undo the ignoring.
// Go defines these signals on every system it runs on. On Windows, closing
// the console window, logging off and shutting down arrive as SIGTERM, and
// Windows ends the process a few seconds later: such a SIGTERM leaves the
// command only windowsCloseGrace to stop before the process quits at once
// (quitDeadline).
var stopSignals = notIgnored(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)

// notIgnored returns the signals of sigs that the process did not start with
// ignored. It must run before any signal.Notify of them (package
// initialization), after which signal.Ignored no longer tells.
func notIgnored(sigs ...os.Signal) []os.Signal {
	var out []os.Signal
	for _, s := range sigs {
		if !signal.Ignored(s) {
			out = append(out, s)
		}
	}
	return out
}

var (
	// outputBroken is closed by the first write to a closed standard output or
	// error (watchBroken): the running command is cancelled as by a signal.
	outputBroken = make(chan struct{})
	brokenOnce   sync.Once
	// pipes receives SIGPIPE, so that such a write fails with EPIPE instead of
	// the runtime ending the process on the spot (which it does for a write
	// to file descriptor 1 or 2 when nobody asked for SIGPIPE).
	pipes = make(chan os.Signal, 1)
)

// watchBroken returns w, a standard output or error, made so that the first
// write it finds broken (the reader went away: `wan22 i2v … | head -1`)
// cancels the running command: it stops and removes its partial output, as
// after a Ctrl-C, where the process would otherwise die in the middle of a
// write with the output half written. Later writes to the broken w fail
// quietly. The first call also has SIGPIPE delivered to a channel (signal
// delivery never blocks, so nothing needs to read it), so that broken writes
// fail instead of killing the process; a broken pipe to a child (ffmpeg) is
// reported by the write that failed, as before.
//
// The writer also keeps what the progress lines drawn on w have left on its
// current line, shared by every writer of w (lineOf), so that a message
// written there never follows a progress line on the same line (lineState).
func watchBroken(w *os.File) io.Writer {
	brokenOnce.Do(func() { signal.Notify(pipes, syscall.SIGPIPE) })
	return brokenWriter{w, lineOf(w)}
}

// brokenWriter is watchBroken's writer. It has the file's Stat, by which the
// progress display tells a terminal (i2v.go newReporter).
type brokenWriter struct {
	f    *os.File
	line *lineState // the file's line, shared by its writers
}

// Stat is the file's.
func (b brokenWriter) Stat() (os.FileInfo, error) { return b.f.Stat() }

// Fd is the file's: the progress display sets the Windows console's mode
// through it (terminal_windows.go).
func (b brokenWriter) Fd() uintptr { return b.f.Fd() }

func (b brokenWriter) Write(p []byte) (int, error) {
	return b.line.write(fileWriter{b.f}, p)
}

// fileWriter writes to f, marking the output broken (markOutputBroken)
// when its reader has gone.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil && isBrokenPipe(err) {
		markOutputBroken()
	}
	return n, err
}

// lineState is what the progress lines drawn on a terminal (i2v's bar,
// bench's and synth's line: barLine) have left on its current line, kept by
// the writer of the file (brokenWriter) for all who write there: the
// command, its reporter, and the signal handler, which says
// "wan22: interrupted; …" from a goroutine of its own while the reporter
// may be drawing. A progress line is drawn over itself by a write that
// starts with \r and ends without a newline; a write that starts with
// anything else while one is shown is a message, which would follow the
// progress text on its line, so the line is ended first ("\n": the last
// progress stays on the screen, saying how far the run got). The reporter
// does not know that its line was ended: the newline alone with which it
// ends the line later (reporter.endBar) is dropped, as it would leave an
// empty line, until the progress line is drawn again. The mutex makes each
// write whole and the state that of the bytes written, in their order.
type lineState struct {
	mu    sync.Mutex
	shown bool // a progress line is on the current line, not ended
	ended bool // a progress line was ended for a message: its own "\n" is dropped
}

// write writes p to w, ending a progress line shown first when p is a
// message (see lineState). A nil l writes p as it is.
func (l *lineState) write(w io.Writer, p []byte) (int, error) {
	if l == nil || len(p) == 0 {
		return w.Write(p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ended && string(p) == "\n":
		l.ended = false
		return len(p), nil
	case l.shown && p[0] != '\r' && p[0] != '\n':
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		l.ended = true
	}
	n, err := w.Write(p)
	last := p[len(p)-1]
	l.shown = p[0] == '\r' && last != '\n' && last != '\r'
	if p[0] == '\r' {
		l.ended = false // drawn again: its owner ends it
	}
	return n, err
}

var (
	linesMu sync.Mutex
	lines   = map[*os.File]*lineState{}
)

// lineOf is the state of f's line, one for all the writers of f.
func lineOf(f *os.File) *lineState {
	linesMu.Lock()
	defer linesMu.Unlock()
	l := lines[f]
	if l == nil {
		l = &lineState{}
		lines[f] = l
	}
	return l
}

// markOutputBroken cancels the running command (once).
func markOutputBroken() { closeBroken.Do(func() { close(outputBroken) }) }

var closeBroken sync.Once

// quitNow is the second signal, or the end of the first one's deadline
// (why, for the message): remove the temporary outputs in progress and exit
// with exitInterrupted, without waiting for the command.
func quitNow(stderr io.Writer, exit func(code int), why string) {
	if err := atomicfile.RemovePending(); err != nil {
		fmt.Fprintf(stderr, "wan22: %s; quitting, but a temporary output could not be removed: %v\n", why, err)
	} else {
		fmt.Fprintf(stderr, "wan22: %s; quitting now (the partial output was removed)\n", why)
	}
	exit(exitInterrupted)
}

// exitInterrupted is the exit status after a command was cancelled by a
// signal, as shells report a process killed by SIGINT (128 + 2).
const exitInterrupted = 130
