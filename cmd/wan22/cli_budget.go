package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wan22/wan22"
)

// withBudgetAdvice adds to err, when it is (or wraps) the library's memory
// refusal, *wan22.BudgetError, what to change among the flags of the run f
// (i2v's, or the demo's): the library's message
// says what needs how much against which limit, in no command's words.
// Other errors come back as they are.
func withBudgetAdvice(err error, f *i2vFlags) error {
	if _, ok := deviceNeed(err); ok {
		// A stage's refusal of the VRAM budget says how much it needs.
		if f.vram <= 0 {
			return err
		}
		return withAdvice(err, f.cmd(), fmt.Sprintf("raise %s (%s GiB given), or leave it out to use all free GPU memory", f.flag("vram-budget"), formatGiB(f.vram)))
	}
	var be *wan22.BudgetError
	if !errors.As(err, &be) {
		return err
	}
	demo := f.demo
	var advice []string
	switch {
	case be.What == "host memory" && !demo && f.host > 0:
		advice = append(advice, fmt.Sprintf("raise --host-budget (%s GiB given), or leave it out to check against the memory available", formatGiB(f.host)))
	}
	switch {
	case be.WeightsExceed() && demo:
		advice = append(advice, "the models are tiny, so free host memory")
	case be.WeightsExceed():
		advice = append(advice, "give smaller quantized model files (Q8_0 or Q4_K_M GGUF experts and text encoder)")
	case demo:
		advice = append(advice, "use a smaller -width and -height, or fewer -frames")
	default:
		advice = append(advice, "use a smaller --size or --max-area, or fewer --frames")
	}
	return withAdvice(err, f.cmd(), strings.Join(advice, "; or "))
}

// withAdvice is err followed by a sentence of advice for the command cmd
// (i2v, demo, bench), which names its flags: "… or free memory. In wan22
// demo, use a smaller -width and -height, or fewer -frames". errors.Is and
// errors.As see err.
func withAdvice(err error, cmd, advice string) error {
	return fmt.Errorf("%w. In wan22 %s, %s", err, cmd, advice)
}

// formatGiB writes a GiB amount as given on the command line: 0.001, 32.
func formatGiB(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
