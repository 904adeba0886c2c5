package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wan22/wan22/engine/pipeline"
)

// The output limits of the flags are the pipeline's own (pipeline.MaxSide
// pixels a side, pipeline.MaxFrames frames), so a value the flag check
// passes is never refused later, after the models have loaded.

// sideProblem says what is wrong with one output side of v pixels (16 to
// pipeline.MaxSide, a multiple of 16: the VAE's 8× and the DiT's 2× patch),
// or "" when nothing is.
func sideProblem(v int) string {
	switch {
	case v < 16:
		return fmt.Sprintf("%d is below 16", v)
	case v > pipeline.MaxSide:
		return fmt.Sprintf("%d is above %d", v, pipeline.MaxSide)
	case v%16 != 0:
		lo := v / 16 * 16 // at least 16, and hi at most MaxSide (a multiple of 16)
		return fmt.Sprintf("%d is not a multiple of 16 (nearest are %d and %d)", v, lo, lo+16)
	}
	return ""
}

// parseWxH splits a size given as WIDTHxHEIGHT into its sides: whole
// numbers separated by x, X or the multiplication sign × (U+00D7, as in
// "1280×720" pasted from a page or typed on a keyboard that has it). ok is
// false for anything else; checkSize checks the values.
func parseWxH(s string) (w, h int, ok bool) {
	i := strings.IndexAny(s, "xX×")
	if i < 0 {
		return 0, 0, false
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	w, err1 := strconv.Atoi(s[:i])
	h, err2 := strconv.Atoi(s[i+n:])
	return w, h, err1 == nil && err2 == nil
}

// checkSize checks an output size given as WxH by flagName ("--size"),
// naming each wrong side.
func checkSize(flagName string, w, h int) error {
	msg := ""
	for _, s := range []struct {
		name string
		v    int
	}{{"width", w}, {"height", h}} {
		if p := sideProblem(s.v); p != "" {
			msg += "; " + s.name + " " + p
		}
	}
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%s %dx%d: %s", flagName, w, h, msg[2:])
}

// checkFrames checks a frame count given by flagName: 4k+1 (the VAE packs
// the first frame alone, then 4 frames per latent frame) from 1 to
// pipeline.MaxFrames. The nearest valid counts it suggests are in that
// range, and nothing overflows whatever n is.
func checkFrames(flagName string, n int) error {
	if n < 1 || n > pipeline.MaxFrames {
		return &FlagRangeError{Flag: flagName, Value: strconv.Itoa(n),
			Want: fmt.Sprintf("a count 4k+1 from 1 to %d (1, 5, 9, …, 81)", pipeline.MaxFrames)}
	}
	if n%4 == 1 {
		return nil
	}
	lo := (n-1)/4*4 + 1 // n ≤ MaxFrames = 4k+1, so lo+4 ≤ MaxFrames
	return fmt.Errorf("%s %d: the frame count must be 4k+1; nearest are %d and %d", flagName, n, lo, lo+4)
}
