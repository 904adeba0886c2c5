package wan22

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The VideoWrite events carry the run's memory peaks as the pipeline's own
// events do, so that a display of the latest event's memory does not drop
// to zero while frames are written.
func TestVideoWriteEventsCarryMemory(t *testing.T) {
	p := open(t, tiny)
	var decode, write []Event
	err := p.Generate(context.Background(), tinyRequest(), Output{Frame: frames, Progress: func(ev Event) {
		switch ev.Stage {
		case VAEDecode:
			decode = append(decode, ev)
		case VideoWrite:
			write = append(write, ev)
		}
	}})
	require.NoError(t, err)
	require.NotEmpty(t, write)
	if decode[0].Memory.PeakRSS == 0 {
		t.Skip("this platform reports no peak RSS")
	}
	for _, ev := range write {
		require.Positive(t, ev.Memory.PeakRSS, "%+v", ev)
	}
}

// Event.Elapsed is the time since the generation started on one clock for
// every event: the VideoWrite events, which Generate sends, counted from
// an earlier start than the pipeline's own events (by the time the
// pipeline took to check the request and its LoRAs before it started its
// clock), so that the VideoWrite stage's last event said a later time than
// the VAEDecode end that follows it, and a display of the latest event's
// Elapsed went back.
func TestEventsElapsedNeverGoesBack(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	dir := t.TempDir()
	for i := range 8 { // checked before the pipeline's clock starts
		r.LoRAs = append(r.LoRAs, LoRA{Path: zeroLoRA(t, dir, fmt.Sprintf("l%d.safetensors", i), nil), Strength: 1})
	}
	var events []Event
	err := p.Generate(context.Background(), r, Output{Frame: frames, Progress: func(ev Event) { events = append(events, ev) }})
	require.NoError(t, err)
	for i := 1; i < len(events); i++ {
		require.GreaterOrEqual(t, events[i].Elapsed, events[i-1].Elapsed, "event %d %+v after %+v", i, events[i], events[i-1])
	}
}
