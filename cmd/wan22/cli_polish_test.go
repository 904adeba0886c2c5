package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeedFlagPlaceholder: the help names the seed's value as its range
// does ("-seed number", "a whole number from 0 to …"); it printed
// "-seed value", the flag package's word for a type of the CLI's own.
func TestSeedFlagPlaceholder(t *testing.T) {
	for _, cmd := range []string{"i2v", "demo", "bench"} {
		code, stdout, stderr := runCLI(cmd, "-h")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "  -seed number\n", cmd)
		require.Contains(t, stdout, "seed: a whole number from 0 to 18446744073709551615", cmd)
		require.NotContains(t, stdout, "-seed value", cmd)
	}
}
