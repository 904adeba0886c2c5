package wan22

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSettingsNegative: Resolve reports the negative prompt the run uses:
// the official one for an empty Negative, the request's own, and "" with
// NoNegative.
func TestSettingsNegative(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	s, err := p.Resolve(r)
	require.NoError(t, err)
	require.Equal(t, DefaultNegative, s.Negative)
	r.Negative = "blurry"
	s, err = p.Resolve(r)
	require.NoError(t, err)
	require.Equal(t, "blurry", s.Negative)
	r.Negative, r.NoNegative = "", true
	s, err = p.Resolve(r)
	require.NoError(t, err)
	require.Empty(t, s.Negative)
}
