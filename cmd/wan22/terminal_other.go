//go:build !windows

package main

import "io"

// vtTerminal reports whether the terminal the progress bar is drawn on (w,
// a terminal) takes escape sequences: every terminal outside Windows does.
func vtTerminal(w io.Writer) bool { return true }
