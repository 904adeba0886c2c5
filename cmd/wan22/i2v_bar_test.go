package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestReporterDecodeWriteOneBar: the VAE decode and the video write
// alternate frame group by frame group; on a terminal they share one bar
// line that shows both counts, instead of a new line at every switch (two
// lines per frame group, 40 and more for 81 frames). Without a terminal
// each event is still its own log line, but the decode's end (Done) does
// not repeat its 9/9 line (TestReporterLogProgressOnce).
func TestReporterDecodeWriteOneBar(t *testing.T) {
	evs := []wan22.Event{
		{Stage: wan22.LowNoise, Step: 2, Steps: 2, Done: true, Elapsed: time.Second},
		{Stage: wan22.VAEDecode, Step: 0, Steps: 9, Elapsed: time.Second},
		{Stage: wan22.VAEDecode, Step: 1, Steps: 9, Elapsed: time.Second},
		{Stage: wan22.VideoWrite, Step: 1, Steps: 9, Elapsed: time.Second},
		{Stage: wan22.VAEDecode, Step: 5, Steps: 9, Elapsed: 2 * time.Second},
		{Stage: wan22.VideoWrite, Step: 5, Steps: 9, Elapsed: 2 * time.Second},
		{Stage: wan22.VAEDecode, Step: 9, Steps: 9, Elapsed: 3 * time.Second},
		{Stage: wan22.VideoWrite, Step: 9, Steps: 9, Elapsed: 3 * time.Second},
		{Stage: wan22.VAEDecode, Step: 9, Steps: 9, Done: true, Elapsed: 3 * time.Second},
	}
	for _, vt := range []bool{false, true} {
		var stderr bytes.Buffer
		r := newReporter(&bytes.Buffer{}, &stderr, false)
		r.tty, r.line.vt = true, vt
		for _, ev := range evs {
			r.event(ev)
		}
		r.endBar()
		out := strings.ReplaceAll(stderr.String(), "\033[K", "")
		require.Equal(t, []string{
			"low-noise 2/2  elapsed 1s",
			"vae-decode 9/9  video-write 9/9  elapsed 3s",
			"",
		}, screen(out), "vt %v", vt)
	}

	var stderr bytes.Buffer
	r := newReporter(&bytes.Buffer{}, &stderr, false)
	for _, ev := range evs {
		r.event(ev)
	}
	require.Equal(t, len(evs)-1, strings.Count(stderr.String(), "\n"), stderr.String())
	require.Contains(t, stderr.String(), "\nvideo-write 5/9  elapsed 2s\n")
}
