package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestReporterLogProgressOnce: without a terminal (a CI log, 2> log.txt)
// each progress line appears once. An expert's end (Done) repeats its last
// step without the rate, and the VAE decode's end repeats its last frame
// count after the video write's line; neither is printed a second time.
// A stage whose end is its only event (vae-encode) keeps its line.
func TestReporterLogProgressOnce(t *testing.T) {
	evs := []wan22.Event{
		{Stage: wan22.VAEEncode, Done: true, Elapsed: time.Second},
		{Stage: wan22.HighNoise, Step: 1, Steps: 2, PerStep: time.Second, ETA: time.Second, Elapsed: time.Second},
		{Stage: wan22.HighNoise, Step: 1, Steps: 2, Done: true, Elapsed: time.Second},
		{Stage: wan22.LowNoise, Step: 2, Steps: 2, PerStep: time.Second, Elapsed: 2 * time.Second},
		{Stage: wan22.LowNoise, Step: 2, Steps: 2, Done: true, Elapsed: 2 * time.Second},
		{Stage: wan22.VAEDecode, Step: 0, Steps: 5, Elapsed: 2 * time.Second},
		{Stage: wan22.VAEDecode, Step: 5, Steps: 5, Elapsed: 3 * time.Second},
		{Stage: wan22.VideoWrite, Step: 5, Steps: 5, Done: true, Elapsed: 3 * time.Second},
		{Stage: wan22.VAEDecode, Step: 5, Steps: 5, Done: true, Elapsed: 3 * time.Second},
	}
	var stderr bytes.Buffer
	r := newReporter(&bytes.Buffer{}, &stderr, false)
	require.False(t, r.tty)
	for _, ev := range evs {
		r.event(ev)
	}
	require.Equal(t, []string{
		"vae-encode  elapsed 1s",
		"high-noise 1/2  1.00 s/it  ETA 1s  elapsed 1s",
		"low-noise 2/2  1.00 s/it  ETA 0s  elapsed 2s",
		"vae-decode 0/5  elapsed 2s",
		"vae-decode 5/5  elapsed 3s",
		"video-write 5/5  elapsed 3s",
		"",
	}, strings.Split(stderr.String(), "\n"))
}
