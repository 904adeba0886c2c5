package wan22

import (
	"context"
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
