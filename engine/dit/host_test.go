package dit

import (
	"math"
	"testing"
)

func TestPatchify(t *testing.T) {
	g := Grid{T: 2, H: 4, W: 6}
	n := g.Size()
	x, y := make([]float32, 2*n), make([]float32, 1*n)
	for i := range x {
		x[i] = float32(i)
	}
	for i := range y {
		y[i] = float32(-i - 1)
	}
	tok := patchify(x, y, g)
	// Token (f=1, i=1, j=2), channel 1 of x, patch offset (p=1, q=0):
	// x[1, 1, 3, 4]; channel 2 is y's channel 0.
	l := (1*2+1)*3 + 2
	if got, want := tok[l*12+1*4+1*2+0], x[((1*2+1)*4+3)*6+4]; got != want {
		t.Errorf("x feature %v, want %v", got, want)
	}
	if got, want := tok[l*12+2*4+0*2+1], y[((0*2+1)*4+2)*6+5]; got != want {
		t.Errorf("y feature %v, want %v", got, want)
	}
	// Unpatchify orders features (q, r, c) with the channel fastest.
	C := 3
	head := make([]float32, g.Tokens()*C*4)
	for i := range head {
		head[i] = float32(i)
	}
	out := unpatchify(head, g, C)
	if got, want := out[((2*g.T+1)*g.H+2*1+1)*g.W+2*2+0], head[l*12+(1*2+0)*C+2]; got != want {
		t.Errorf("unpatchified %v, want %v", got, want)
	}
}

func TestSinusoid(t *testing.T) {
	s := sinusoid(10, 8)
	// half 4: ω = 10000^(-k/4) = 1, 0.1, 0.01, 0.001.
	for k, w := range []float64{1, 0.1, 0.01, 0.001} {
		if math.Abs(float64(s[k])-math.Cos(10*w)) > 1e-7 || math.Abs(float64(s[4+k])-math.Sin(10*w)) > 1e-7 {
			t.Errorf("k=%d: cos %v sin %v", k, s[k], s[4+k])
		}
	}
}

func TestRope(t *testing.T) {
	if got := ropeSplit(128); got != [3]int{22, 21, 21} {
		t.Errorf("split %v, want [22 21 21]", got)
	}
	g := Grid{T: 3, H: 4, W: 6}
	cos, sin := ropeTables(g, 128)
	// Token (f=2, i=1, j=2); pair 1 of the frame axis turns by 2·10000^(-2/44),
	// pair 22+3 (height) by 1·10000^(-6/42), pair 43+20 (width) by 2·10000^(-40/42).
	l := (2*2+1)*3 + 2
	for m, a := range map[int]float64{1: 2 * math.Pow(1e4, -2.0/44), 25: math.Pow(1e4, -6.0/42), 63: 2 * math.Pow(1e4, -40.0/42)} {
		if math.Abs(float64(cos[l*64+m])-math.Cos(a)) > 1e-7 || math.Abs(float64(sin[l*64+m])-math.Sin(a)) > 1e-7 {
			t.Errorf("pair %d: cos %v sin %v, want angle %v", m, cos[l*64+m], sin[l*64+m], a)
		}
	}
}
