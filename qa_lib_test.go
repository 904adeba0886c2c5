package wan22

// The QA pass's defects of the library's front door: misuse of a Pipeline.

import (
	"context"
	"image"
	"testing"

	"github.com/stretchr/testify/require"
)

// Misuse of the Pipeline is an error, never a panic.
func TestPipelineMisuse(t *testing.T) {
	_, err := Open(nil, tiny, Options{Device: "cpu"}) //nolint:staticcheck // a nil context is the misuse under test
	require.ErrorIs(t, err, ErrNilContext)
	require.ErrorContains(t, err, "Open")

	p, err := Open(context.Background(), tiny, Options{Device: "cpu"})
	require.NoError(t, err)
	frame := Output{Frame: func(int, *image.RGBA) error { return nil }}
	err = p.Generate(nil, tinyRequest(), frame) //nolint:staticcheck
	require.ErrorIs(t, err, ErrNilContext)
	require.ErrorContains(t, err, "Generate")

	require.NoError(t, p.Close())
	_, err = p.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, err, p.Generate(context.Background(), tinyRequest(), frame), "Resolve and Generate after Close: the same error")
	require.NoError(t, p.Close(), "a second Close")

	var nilp *Pipeline
	require.ErrorIs(t, nilp.Close(), ErrNilPipeline)
	_, err = nilp.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrNilPipeline)
	require.ErrorIs(t, nilp.Generate(context.Background(), tinyRequest(), frame), ErrNilPipeline)
}
