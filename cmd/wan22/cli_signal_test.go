package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestCommandContextSignal sends SIGINT to the test process: the context
// of a running command must be cancelled (and the process must live on).
func TestCommandContextSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a process cannot send itself os.Interrupt on Windows")
	}
	ctx, stop := commandContext()
	defer stop()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled 5 s after SIGINT")
	}
}
