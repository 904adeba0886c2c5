package scheduler

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkStep times one step on the latent of an 81-frame 480p video
// (16 channels × 21 latent frames × 60 × 104), in the middle of a 40-step
// schedule (UniPC runs its corrector and a second-order predictor there).
func BenchmarkStep(b *testing.B) {
	const size = 16 * 21 * 60 * 104
	rng := rand.New(rand.NewPCG(1, 1))
	x, v := randLatent(rng, size), randLatent(rng, size)
	for _, kind := range Kinds {
		b.Run(string(kind), func(b *testing.B) {
			s, err := New(string(kind), 40, 5)
			if err != nil {
				b.Fatal(err)
			}
			for i := range 20 { // fill the history
				if err := s.Step(v, i, x); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(4 * size)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Step(v, 20, x); err != nil {
					b.Fatal(err)
				}
				s.next = 20 // run step 20 again: same coefficients, same work
			}
		})
	}
}
