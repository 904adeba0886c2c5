package wan22

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWarnOnceBounded: a warning is logged once per Pipeline, and the
// Pipeline remembers at most warnOnceKeys of them, so a server that runs
// one Pipeline for its life with ever new LoRA files keeps no more; past
// that the oldest is forgotten and logged again if it comes back.
func TestWarnOnceBounded(t *testing.T) {
	var log bytes.Buffer
	p := &Pipeline{o: Options{Log: slog.New(slog.NewTextHandler(&log, nil))}}
	warn := func(i int) int {
		log.Reset()
		p.warnOnce("a warning", "lora", fmt.Sprintf("%d.safetensors", i))
		return strings.Count(log.String(), "level=WARN")
	}
	require.Equal(t, 1, warn(0))
	require.Equal(t, 0, warn(0), "warned twice")
	for i := 1; i < 3*warnOnceKeys; i++ {
		require.Equal(t, 1, warn(i), i)
		require.LessOrEqual(t, len(p.warned), warnOnceKeys)
		require.Len(t, p.warnedKeys, len(p.warned))
	}
	require.Equal(t, 0, warn(3*warnOnceKeys-1), "the newest is remembered")
	require.Equal(t, 0, warn(2*warnOnceKeys), "the oldest remembered")
	require.Equal(t, 1, warn(2*warnOnceKeys-1), "one more is forgotten")
}
