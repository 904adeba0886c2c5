package main

import (
	"bytes"
	"testing"
)

// TestWarnLog: the library's warnings print as the CLI's other messages
// do, one plain line on the writer with the command's prefix; its
// information lines stay quiet.
func TestWarnLog(t *testing.T) {
	var b bytes.Buffer
	l := warnLog("i2v", &b)
	l.Info("loading", "file", "x.gguf")
	l.Warn("the experts' file names say they are swapped", "high_noise_expert", "a_low_noise.gguf", "low_noise_expert", "b_high_noise.gguf")
	l.With("file", "c.gguf").Warn("second")
	want := "wan22 i2v: warning: the experts' file names say they are swapped (high noise expert: a_low_noise.gguf, low noise expert: b_high_noise.gguf)\n" +
		"wan22 i2v: warning: second (file: c.gguf)\n"
	if got := b.String(); got != want {
		t.Errorf("log =\n%q\nwant\n%q", got, want)
	}
}
