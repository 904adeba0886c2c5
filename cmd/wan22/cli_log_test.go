package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestWarnLog(t *testing.T) {
	var b bytes.Buffer
	l := warnLog(&b)
	l.Info("loading", "file", "x.gguf")
	l.Warn("the experts' file names say they are swapped", "high", "a_low_noise.gguf")
	got := b.String()
	if strings.Contains(got, "loading") || strings.Contains(got, "time=") {
		t.Errorf("info lines or timestamps shown: %q", got)
	}
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "swapped") || strings.Count(got, "\n") != 1 {
		t.Errorf("warning line = %q", got)
	}
}
