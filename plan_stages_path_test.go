package wan22

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlanStagesQuotesPath: a text encoder file that the stage plan
// cannot inspect is named Go-quoted when its path holds a control
// character, as every other message names model files (safetext.Path).
func TestPlanStagesQuotesPath(t *testing.T) {
	notT5 := copyFile(t, tiny.VAE, t.TempDir(), "umt5\x1b[31m.safetensors")
	p := &Pipeline{models: Models{TextEncoder: notT5}}
	_, err := p.planStagesWithin(0, 16, 16)
	require.Error(t, err)
	require.Contains(t, err.Error(), "text encoder "+strconv.Quote(notT5)+": ")
	require.NotContains(t, err.Error(), "\x1b")
}
