package wan22

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSolverAnyCase: the solver name takes any case, as Options.Device and
// Options.Attention do, and Settings report it in the lower case the
// constants use; an unknown name is refused as it was, naming it as given
// and listing the valid names.
func TestSolverAnyCase(t *testing.T) {
	p := open(t, tiny)
	for given, want := range map[string]string{"UniPC": "unipc", "UNIPC": "unipc", "DPM++": "dpm++", "Euler": "euler", "Distill": DistillSolver} {
		r := tinyRequest()
		r.Solver = given
		if want == DistillSolver {
			r.Steps = 0 // one a listed timestep
		}
		s, err := p.Resolve(r)
		require.NoError(t, err, given)
		require.Equal(t, want, s.Solver, given)
		if want == DistillSolver {
			require.Equal(t, float32(1), s.Guidance.High, "the distill solver's guidance default applies to %q", given)
		}
	}
	re := resolveField(t, p, tinyRequest(), func(r *Request) { r.Solver = "DDIM" }, "Solver")
	require.EqualError(t, re, `wan22: unknown solver "DDIM": use unipc (the default), dpm++, euler or distill (DistillSolver)`)
}
