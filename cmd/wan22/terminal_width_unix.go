//go:build unix

package main

import (
	"io"

	"golang.org/x/sys/unix"
)

// terminalWidth returns the columns of the terminal w is (the standard error the progress bar is drawn on),
// or 0 when it cannot tell.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
