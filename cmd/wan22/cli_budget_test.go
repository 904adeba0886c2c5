package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
)

// TestBudgetAdviceDevice: a stage's refusal of the VRAM budget (the block
// planner's, the VAE's tiling, the text encoder's streaming) gets the
// command's own --vram-budget flag when one was given, and is left as it
// is (it says what it needs) when the run had all free memory.
func TestBudgetAdviceDevice(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("high-noise expert h.gguf: %w", &blockswap.BudgetError{Budget: 8 << 30, Need: 12 << 30}),
		&vae.BudgetError{Half: vae.Decoder, Width: 832, Height: 480, Need: 10 << 30, Budget: 8 << 30},
		&t5.BudgetError{Need: 9 << 30, Budget: 8 << 30},
	} {
		got := withBudgetAdvice(err, &i2vFlags{vram: 8})
		require.ErrorIs(t, got, err)
		require.Equal(t, err.Error()+". In wan22 i2v, raise --vram-budget (8 GiB given), or leave it out to use all free GPU memory", got.Error())
		got = withBudgetAdvice(err, &i2vFlags{vram: 8, demo: true})
		require.Contains(t, got.Error(), "In wan22 demo, raise -vram-budget (8 GiB given)")
		require.Equal(t, err, withBudgetAdvice(err, &i2vFlags{}))
	}
}
