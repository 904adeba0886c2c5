package wan22

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cuda"
)

// errorsHandler is a slog.Handler keeping the error attributes it is given.
type errorsHandler struct{ errs *[]error }

func (h errorsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h errorsHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			*h.errs = append(*h.errs, err)
		}
		return true
	})
	return nil
}
func (h errorsHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h errorsHandler) WithGroup(string) slog.Handler      { return h }

// TestPinnedWarningNamesOption: the CUDA backend's warning of a refused pin
// (engine/cuda's AllocHost, staging buffers and swap slabs, which fall back
// to pageable memory) says to raise Config.PinnedCap, the engine's name;
// through Options.Log the library's user reads the option they set,
// Options.PinnedBudget, in the message, its error and grouped or attached
// attributes, and the error is still the engine's *cuda.PinError
// (errors.As).
func TestPinnedWarningNamesOption(t *testing.T) {
	var buf bytes.Buffer
	o := Options{VRAMBudget: 8 << 30, PinnedBudget: 1 << 30, Log: slog.New(slog.NewTextHandler(&buf, nil))}
	c := cudaConfig(o)
	require.Equal(t, o.VRAMBudget, c.MemCap)
	require.Equal(t, o.PinnedBudget, c.PinnedCap)
	pin := &cuda.PinError{Size: 2 << 30, Err: &cuda.BudgetError{What: "pinned host memory", Owner: "high-noise", Request: 2 << 30, Limit: 1 << 30}}
	require.Contains(t, pin.Error(), "raise Config.PinnedCap", "the engine's own words")

	const msg = "pinning host memory refused; using pageable memory (host→device copies will be slower and not asynchronous)"
	c.Logger.Warn(msg, "err", pin)
	c.Logger.With("hint", "raise Config.PinnedCap").WithGroup("swap").Warn("Config.PinnedCap too small", slog.Group("why", "err", pin))
	out := buf.String()
	require.Equal(t, 2, strings.Count(out, "level=WARN"), out)
	require.Contains(t, out, msg)
	require.Contains(t, out, "raise Options.PinnedBudget", out)
	require.Contains(t, out, "Options.PinnedBudget too small", out)
	require.NotContains(t, out, "Config.PinnedCap", out)
	require.NotContains(t, out, "PinnedCap", out)

	var errs []error
	c = cudaConfig(Options{Log: slog.New(errorsHandler{&errs})})
	c.Logger.Warn(msg, "err", pin)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), "raise Options.PinnedBudget")
	var pe *cuda.PinError
	require.True(t, errors.As(errs[0], &pe))
	require.Same(t, pin, pe)
	require.ErrorIs(t, errs[0], cuda.ErrPinRefused)

	require.Nil(t, cudaConfig(Options{}).Logger, "no log stays none")
}
