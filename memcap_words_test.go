package wan22

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/cuda"
)

// cudaOOMAdvice is what engine/cuda's Alloc says to do when the driver
// refuses memory the budget allowed (engine/cuda/memory.go).
const cudaOOMAdvice = "lower Config.MemCap or raise Config.Reserve"

// TestDriverOOMNamesOptions: when the driver refuses device memory that the
// budget allowed, engine/cuda says to lower Config.MemCap or raise
// Config.Reserve, settings a library user never sees; the error Generate
// returns, and a log line through Options.Log, name Options.VRAMBudget
// instead and say what to do for the reserve, which Options has no field
// for; the engine's *cuda.Error is still reachable (errors.As).
func TestDriverOOMNamesOptions(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("engine", "cuda", "memory.go"))
	require.NoError(t, err)
	require.Contains(t, string(src), cudaOOMAdvice, "engine/cuda's words, which optionNames translates")

	driver := &cuda.Error{Call: `cuMemAlloc(3.00 MiB) for "low-noise"`, Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Desc: "out of memory"}
	oom := fmt.Errorf("%w; the budget allowed it, so other processes or libraries use the GPU: "+cudaOOMAdvice, driver)
	check := func(msg string) {
		t.Helper()
		require.NotContains(t, msg, "Config.", msg)
		require.NotContains(t, msg, "MemCap", msg)
		require.NotContains(t, msg, "Reserve", msg)
		require.Contains(t, msg, "Options.VRAMBudget", msg)
		require.Contains(t, msg, "stop them", msg)
	}

	// Generate's error: the low-noise expert's weights meet the driver's refusal.
	p := open(t, tiny)
	cb := p.b.(*cpu.Backend)
	p.stage = func(s Stage) engine.Backend {
		if s == LowNoise {
			return refuseCPU{cb, oom}
		}
		return nil
	}
	r := tinyRequest()
	r.SwitchStep = 1 // both experts run
	err = p.Generate(context.Background(), r, Output{Frame: func(int, *image.RGBA) error { return nil }})
	require.Error(t, err)
	check(err.Error())
	require.Contains(t, err.Error(), "CUDA_ERROR_OUT_OF_MEMORY")
	var ce *cuda.Error
	require.ErrorAs(t, err, &ce)
	require.Same(t, driver, ce)

	// Open's error, and a log line's message and error.
	named, ok := optionsErr(fmt.Errorf("cuda: allocating the workspace: %w", oom))
	require.True(t, ok)
	check(named.Error())
	require.ErrorAs(t, named, &ce)
	plain := fmt.Errorf("cuda: no luck")
	same, ok := optionsErr(plain)
	require.False(t, ok)
	require.Equal(t, plain, same)

	var buf bytes.Buffer
	log := cudaConfig(Options{Log: slog.New(slog.NewTextHandler(&buf, nil))}).Logger
	log.Warn("allocation refused: "+cudaOOMAdvice, "err", oom)
	out := buf.String()
	require.Equal(t, 2, strings.Count(out, "Options.VRAMBudget"), out)
	require.NotContains(t, out, "Config.", out)
}
