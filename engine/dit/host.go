package dit

import (
	"fmt"
	"math"
)

// Host-side parts of the forward pass: the patch (un)folding and the tables
// that depend only on the timestep and the latent grid, computed in float64
// as the official code does and uploaded as float32.

// Grid is the size of a latent video: T frames of H×W (both even).
type Grid struct {
	T, H, W int
}

// Tokens is the sequence length: one token per 1×2×2 patch.
func (g Grid) Tokens() int { return g.T * (g.H / 2) * (g.W / 2) }

// Size is the number of values per channel.
func (g Grid) Size() int { return g.T * g.H * g.W }

func (g Grid) validate() error {
	if g.T <= 0 || g.H <= 0 || g.W <= 0 || g.H%2 != 0 || g.W%2 != 0 {
		return fmt.Errorf("dit: latent grid %d×%d×%d: frames must be positive, height and width positive and even", g.T, g.H, g.W)
	}
	return nil
}

// patchify folds the channels of x and then y, each [C, T, H, W], into
// tokens [L, (Cx+Cy)·4] in (f, i, j) order. Features are ordered (c, p, q),
// matching the Conv3d weight [dim, C, 1, 2, 2] viewed as [dim, C·4].
func patchify(x, y []float32, g Grid) []float32 {
	n := g.Size()
	cx, cy := len(x)/n, len(y)/n
	C := cx + cy
	hp, wp := g.H/2, g.W/2
	out := make([]float32, g.Tokens()*C*4)
	for c := range C {
		src, cc := x, c
		if c >= cx {
			src, cc = y, c-cx
		}
		for f := range g.T {
			plane := src[(cc*g.T+f)*g.H*g.W:]
			for i := range hp {
				for j := range wp {
					tok := out[((f*hp+i)*wp+j)*C*4+c*4:]
					for p := range 2 {
						for q := range 2 {
							tok[p*2+q] = plane[(2*i+p)*g.W+2*j+q]
						}
					}
				}
			}
		}
	}
	return out
}

// unpatchify unfolds the head output [L, C·4], features ordered (q, r, c),
// into [C, T, H, W]: out[c, f, 2i+q, 2j+r] = tok(f, i, j)[(q·2 + r)·C + c].
func unpatchify(tokens []float32, g Grid, C int) []float32 {
	hp, wp := g.H/2, g.W/2
	out := make([]float32, C*g.Size())
	for f := range g.T {
		for i := range hp {
			for j := range wp {
				tok := tokens[((f*hp+i)*wp+j)*C*4:]
				for q := range 2 {
					for r := range 2 {
						for c := range C {
							out[((c*g.T+f)*g.H+2*i+q)*g.W+2*j+r] = tok[(q*2+r)*C+c]
						}
					}
				}
			}
		}
	}
	return out
}

// sinusoid is the time embedding input [freqDim]: with half = freqDim/2 and
// ω_k = 10000^(−k/half), cos(t·ω_k) for every k, then sin(t·ω_k).
func sinusoid(t float64, freqDim int) []float32 {
	half := freqDim / 2
	out := make([]float32, freqDim)
	for k := range half {
		a := t * math.Pow(ropeTheta, -float64(k)/float64(half))
		out[k] = float32(math.Cos(a))
		out[half+k] = float32(math.Sin(a))
	}
	return out
}

// ropeSplit is how many rotary pairs of a head go to the frame, height and
// width axes: [c − 2⌊c/3⌋, ⌊c/3⌋, ⌊c/3⌋] for c = headDim/2 (22/21/21 at 128).
func ropeSplit(headDim int) [3]int {
	c := headDim / 2
	return [3]int{c - 2*(c/3), c / 3, c / 3}
}

// ropeTables returns cos and sin [L, headDim/2] of the 3-D rotary embedding
// for the tokens of g in (f, i, j) order: pair m of an axis with n pairs
// turns by pos·10000^(−2m/(2n)), pos being the token's frame, row or column.
func ropeTables(g Grid, headDim int) (cos, sin []float32) {
	split := ropeSplit(headDim)
	P := headDim / 2
	// The angles depend only on a token's position along each axis, so the
	// trigonometry runs once per axis position (float64, as the spec says)
	// and every token is a copy.
	type trig struct{ cos, sin []float32 }
	axis := func(n, positions int) []trig {
		t := make([]trig, positions)
		for p := range positions {
			t[p] = trig{make([]float32, n), make([]float32, n)}
			for m := range n {
				ang := float64(p) * math.Pow(ropeTheta, -float64(2*m)/float64(2*n))
				t[p].cos[m], t[p].sin[m] = float32(math.Cos(ang)), float32(math.Sin(ang))
			}
		}
		return t
	}
	hp, wp := g.H/2, g.W/2
	tf, th, tw := axis(split[0], g.T), axis(split[1], hp), axis(split[2], wp)
	L := g.Tokens()
	cos, sin = make([]float32, L*P), make([]float32, L*P)
	for f := range g.T {
		for i := range hp {
			for j := range wp {
				m := ((f*hp+i)*wp + j) * P
				for _, a := range [3]trig{tf[f], th[i], tw[j]} {
					copy(cos[m:], a.cos)
					m += copy(sin[m:], a.sin)
				}
			}
		}
	}
	return cos, sin
}
