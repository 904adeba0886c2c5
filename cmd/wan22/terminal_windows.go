//go:build windows

package main

import (
	"io"

	"golang.org/x/sys/windows"
)

// vtTerminal reports whether the console the progress bar is drawn on (w,
// a terminal: the standard error) takes escape sequences, turning on its
// virtual terminal processing (ENABLE_VIRTUAL_TERMINAL_PROCESSING) when it
// is off: Windows Terminal has it on, the classic console window
// (conhost) starts programs with it off, and Go never turns it on. It
// reports false where w has no console handle or the mode cannot be set
// (Windows before 10), and the bar is drawn without escapes (barLine).
// The mode stays on after wan22 exits, as for other programs that set it:
// it only lets the console read escape sequences.
func vtTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false // not a console (a terminal emulator's pipe, say)
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return true
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}

// terminalWidth returns the columns of the console window w is (the standard error the progress bar is drawn
// on), or 0 when it cannot tell.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	var info windows.ConsoleScreenBufferInfo
	if err := windows.GetConsoleScreenBufferInfo(windows.Handle(f.Fd()), &info); err != nil {
		return 0
	}
	return int(info.Window.Right-info.Window.Left) + 1
}
