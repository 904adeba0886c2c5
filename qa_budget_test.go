package wan22

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBudgetErrorWording: the memory refusal says what needs how much
// against which limit (the budget given, or the memory available), and
// the fix that can work: a smaller or shorter video while the video's
// memory dominates, a larger budget or smaller models when the models
// alone do not fit. It names no CLI flag, and a tiny budget is not
// written "0.00 GiB".
func TestBudgetErrorWording(t *testing.T) {
	p := open(t, tiny)
	p.o.HostBudget = 1 << 20 // less than the runtime itself: no video fits
	_, err := p.Resolve(tinyRequest())
	var be *BudgetError
	require.True(t, errors.As(err, &be), "%v", err)
	require.True(t, be.BudgetGiven)
	require.True(t, be.WeightsExceed())
	require.Greater(t, be.Need, be.Weights)
	require.Equal(t, map[Stage]string{VAEEncode: "VAE encode", TextEncode: "text encode", HighNoise: "high-noise", VAEDecode: "VAE decode"}[be.WeightsIn], be.WeightsStage)
	require.Contains(t, err.Error(), "5 frames of 32x16 need about ")
	require.Contains(t, err.Error(), "more than the host memory budget of 1.0 MiB; the models alone, without any video, need about ")
	require.Contains(t, err.Error(), "so no smaller video fits: raise the budget or use smaller (quantized) model files")
	require.NotContains(t, err.Error(), "--")

	for _, c := range []struct {
		e    BudgetError
		want string
	}{
		{BudgetError{What: "host memory", Need: 3 << 30, Budget: 2 << 30, Width: 1280, Height: 720, Frames: 81, LargestStageOf: "VAE decode", Weights: 1 << 30, WeightsStage: "high-noise"},
			"81 frames of 1280x720 need about 3.00 GiB of host memory (the VAE decode stage), more than the 2.00 GiB of host memory available: make the video smaller or use fewer frames, or free memory"},
		{BudgetError{What: "host memory", Need: 30 << 30, Budget: 8 << 30, Width: 64, Height: 64, Frames: 1, LargestStageOf: "high-noise", Weights: 29 << 30, WeightsStage: "high-noise"},
			"1 frame of 64x64 needs about 30.00 GiB of host memory (the high-noise stage), more than the 8.00 GiB of host memory available; the models alone, without any video, need about 29.00 GiB (the high-noise stage), so no smaller video fits: free memory or use smaller (quantized) model files"},
	} {
		require.EqualError(t, &c.e, c.want)
	}

	// A budget given in GiB where bytes are wanted (HostBudget: 16) is
	// written in bytes, not "0.0 MiB", so the mistake shows.
	p.o.HostBudget = 16
	_, err = p.Resolve(tinyRequest())
	require.ErrorContains(t, err, "more than the host memory budget of 16 bytes;")
}
