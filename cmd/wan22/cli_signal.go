package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/wan22/wan22/internal/atomicfile"
)

// commandContext returns the context a command runs under. The first SIGINT
// (Ctrl-C) or SIGTERM cancels it, so the command stops its current stage
// (the models check the context between layers), removes what it had half
// written and returns; it prints one line saying so. A second signal, while
// the command is still stopping or cleaning up, quits at once with status
// 130 after removing every temporary output still in progress
// (atomicfile.RemovePending). Call the CancelFunc when the command ends: it
// stops catching the signals, so a later Ctrl-C kills the process the usual
// way.
func commandContext() (context.Context, context.CancelFunc) {
	return interruptContext(os.Stderr, os.Exit)
}

// interruptContext is commandContext with the writer of its messages and the
// exit function given (for tests).
func interruptContext(stderr io.Writer, exit func(code int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "wan22: interrupted; stopping and removing the partial output (Ctrl-C again to quit at once)")
		cancel()
		select {
		case <-sigs:
		case <-done:
			return
		}
		quitNow(stderr, exit)
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

// quitNow is the second signal: remove the temporary outputs in progress
// and exit with exitInterrupted, without waiting for the command.
func quitNow(stderr io.Writer, exit func(code int)) {
	if err := atomicfile.RemovePending(); err != nil {
		fmt.Fprintf(stderr, "wan22: interrupted again; quitting, but a temporary output could not be removed: %v\n", err)
	} else {
		fmt.Fprintln(stderr, "wan22: interrupted again; quitting now (the partial output was removed)")
	}
	exit(exitInterrupted)
}

// exitInterrupted is the exit status after a command was cancelled by a
// signal, as shells report a process killed by SIGINT (128 + 2).
const exitInterrupted = 130
