package wan22

import (
	"context"
	"image"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCloseThenCancelIsClosed: a run stopped by Close returns ErrClosed even
// when the caller's context ends after the Close and before the run notices
// (a server shutting down: Close, then the request's context ends); it
// returned plain context.Canceled.
func TestCloseThenCancelIsClosed(t *testing.T) {
	p := open(t, tiny)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	err := p.Generate(ctx, tinyRequest(), Output{Frame: frames, Progress: func(ev Event) {
		if ev.Stage == HighNoise {
			once.Do(func() {
				require.NoError(t, p.Close())
				cancel()
			})
		}
	}})
	require.ErrorIs(t, err, ErrClosed, "got %v", err)
}

// TestTypedNilImage: an Image holding a nil pointer (a failed decode's
// result passed on) is a RequestError naming Image from Resolve and
// Generate, not a panic in Bounds.
func TestTypedNilImage(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Image = (*image.RGBA)(nil)
	_, err := p.Resolve(r)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
	require.ErrorContains(t, err, "nil pointer")
	err = p.Generate(context.Background(), r, Output{Frame: frames})
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
}
