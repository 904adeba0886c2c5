package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// commandContext returns the context a command runs under: it is cancelled
// on SIGINT (Ctrl-C) or SIGTERM, so a command can stop its work, remove what
// it had half written and return. Call the CancelFunc when the command ends:
// it stops catching the signals, so a second Ctrl-C during clean-up kills
// the process the usual way.
func commandContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// exitInterrupted is the exit status after a command was cancelled by a
// signal, as shells report a process killed by SIGINT (128 + 2).
const exitInterrupted = 130
