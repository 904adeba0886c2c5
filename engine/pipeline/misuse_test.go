package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cpu"
)

// I2V given no context or no backend says so before any model loads,
// instead of panicking in the first stage.
func TestI2VRefusesNilContextAndBackend(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	emit := func([]float32, int) error { return nil }
	var err error
	require.NotPanics(t, func() { err = I2V(nil, cpu.New(), m, testImage(o), o, emit) }) //nolint:staticcheck // the misuse under test
	require.EqualError(t, err, "pipeline: I2V needs a context: pass context.Background() or a context you cancel")
	require.NotPanics(t, func() { err = I2V(t.Context(), nil, m, testImage(o), o, emit) })
	require.EqualError(t, err, "pipeline: I2V needs a backend (cpu.New(), or a CUDA backend)")
}
