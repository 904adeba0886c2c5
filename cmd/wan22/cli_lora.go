package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/scheduler"
)

// The LoRA and few-step flags i2v and bench share.

// addLoRAFlags defines --lora-high, --lora-low and --lora on fs, each
// repeatable with FILE[:STRENGTH] values, appending what they give to into
// in command-line order.
func addLoRAFlags(fs *flag.FlagSet, into *[]wan22.LoRA) {
	for _, l := range []struct {
		name, usage string
		expert      wan22.LoRAExpert
	}{
		{"lora-high", "LoRA FILE[:STRENGTH] for the high-noise expert (repeatable; strength 1 by default)", wan22.LoRAHigh},
		{"lora-low", "LoRA FILE[:STRENGTH] for the low-noise expert (repeatable)", wan22.LoRALow},
		{"lora", "LoRA FILE[:STRENGTH] for both experts (repeatable)", wan22.LoRABoth},
	} {
		fs.Func(l.name, l.usage, func(v string) error {
			lo, err := parseLoRA(v, l.expert)
			if err == nil {
				*into = append(*into, lo)
			}
			return err
		})
	}
}

// parseLoRA reads a --lora* value, FILE or FILE:STRENGTH, for the expert e
// (splitLoRA says which). An empty file name ("", ":0.5") is no error here:
// the flag package would put its own words before it ('invalid value "" for
// flag -lora: …'), so checkLoRAFiles says it, as i2v and bench check the
// flags before reading any file.
func parseLoRA(v string, e wan22.LoRAExpert) (wan22.LoRA, error) {
	path, strength, err := splitLoRA(v, runtime.GOOS, fileExists)
	l := wan22.LoRA{Path: path, Strength: strength, Expert: e}
	if err != nil {
		return l, err
	}
	if l.Path == "" {
		return l, nil
	}
	if err := checkFloat("strength", l.Strength, -pipeline.MaxLoRAStrength, pipeline.MaxLoRAStrength); err != nil {
		return l, err
	}
	return l, nil
}

// splitLoRA splits a --lora* value v into its file and strength (1 when v
// gives none) as the system goos (runtime.GOOS) names files. When a number
// follows the last colon, v is either a file and that strength or, as a
// whole, a file: the reading that names an existing file (exists) wins, and
// when both or neither do, the strength — except on Windows after a lone
// letter, which is a drive there (D:0.5 is the file 0.5 on drive D; on other
// systems a file D). Otherwise the colon belongs to the file name when it
// looks like part of a path — a drive letter before it
// (C:\loras\x.safetensors, C:x), unless that letter names an existing file
// and v does not (a:abc is the file a with a bad strength), or a slash or
// backslash after it, which no number has (/data/a:b/x.safetensors) — or
// when the whole value names an existing file; then v is the file, and a
// missing one is reported as missing by checkLoRAFiles. Any other colon is
// an error naming the bad strength, or the quotes wrapping v where it is
// wrapped in quotes that are part of it (wrappedQuotesAdvice: its strength
// ends in the closing quote); a number too large for a float64 (1e400) is a
// strength out of range.
func splitLoRA(v, goos string, exists func(string) bool) (path string, strength float64, err error) {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return v, 1, nil
	}
	before, after := v[:i], v[i+1:]
	whole := goos == "windows" && isDriveLetter(before)
	if a, b := exists(v), exists(before); a != b {
		whole = a
	}
	st, perr := parseStrength(after)
	if perr == nil && !whole {
		return before, st, nil
	}
	if errors.Is(perr, strconv.ErrRange) && !whole {
		// A number beyond float64 (st is ±Inf): named as typed.
		re := checkFloat("strength", st, -pipeline.MaxLoRAStrength, pipeline.MaxLoRAStrength).(*FlagRangeError)
		re.Value = after
		return before, 1, re
	}
	// Go's syntax but not a plain number (1_0, 0x1p-2, Inf): a strength
	// unless the whole value names a file.
	var re *FlagRangeError
	var se *strengthError
	if (errors.As(perr, &re) || errors.As(perr, &se)) && !whole && !exists(v) {
		return before, 1, perr
	}
	// An existing file before the colon, the whole value none: the rest was
	// meant as its strength, even after a lone letter.
	fileThenWord := exists(before) && !exists(v)
	if (isDriveLetter(before) && !fileThenWord) || strings.ContainsAny(after, `/\`) || exists(v) {
		return v, 1, nil
	}
	if a := wrappedQuotesAdvice(v); a != "" {
		// '"x.safetensors:0.8"' quoted twice: the quotes are wrong, not
		// the strength, as missingInputAdvice tells of a wrapped FILE.
		return v, 1, errors.New(a)
	}
	return v, 1, fmt.Errorf("want FILE or FILE:STRENGTH, and %q is not a number%s", after, strengthHint(before, after))
}

// strengthHint says how to write the strength s of file that is a number
// but for a decimal comma (0,8) or spaces around it (" 0.5"), "" for
// anything else.
func strengthHint(file, s string) string {
	if t := strings.TrimSpace(s); t != s && plainDecimal(t) {
		return " (no spaces around it: " + displayName(file+":"+t) + ")"
	}
	if t := strings.Replace(s, ",", ".", 1); strings.Count(s, ",") == 1 && plainDecimal(t) {
		return " (the decimal point is a dot: " + displayName(file+":"+t) + ")"
	}
	return ""
}

// strengthError is parseStrength's error for a strength Go's number syntax
// reads but wan22 does not: 1_0, 0x1p-2, Inf, NaN.
type strengthError struct {
	value, why string
}

func (e *strengthError) Error() string {
	return fmt.Sprintf("strength %s: %s", e.value, e.why)
}

// parseStrength reads a LoRA strength, a plain decimal number: an optional
// sign, digits with at most one dot among them, and an optional exponent
// (e or E, an optional sign, digits), as 1, 0.8, -.5 or 5e-1. What Go's
// strconv.ParseFloat reads besides is refused, saying what is wrong: 1_0,
// which it reads as 10 (an underscore between digits), and a hexadecimal
// 0x1p-2 are a *strengthError; Inf, Infinity and NaN a *FlagRangeError (a
// finite number is wanted). A plain number beyond float64 (1e400) is
// ParseFloat's range error; anything else its syntax error.
func parseStrength(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if plainDecimal(s) || (err != nil && !errors.Is(err, strconv.ErrRange)) {
		return v, err
	}
	lo, hi := -pipeline.MaxLoRAStrength, pipeline.MaxLoRAStrength
	want := fmt.Sprintf("want a plain decimal number from %d to %d (digits, one dot, an optional sign and exponent: 1, 0.8, -0.5, 5e-1)", lo, hi)
	switch t := strings.ToLower(strings.TrimLeft(s, "+-")); {
	case t == "inf" || t == "infinity" || t == "nan":
		return v, &FlagRangeError{Flag: "strength", Value: s, Want: fmt.Sprintf("a finite number from %d to %d", lo, hi)}
	case strings.Contains(s, "_"):
		return v, &strengthError{s, "an underscore is no decimal point (write 1.0 for one, 10 for ten); " + want}
	case strings.HasPrefix(t, "0x"):
		return v, &strengthError{s, fmt.Sprintf("a hexadecimal number (%s is %s); %s", s, strconv.FormatFloat(v, 'g', -1, 64), want)}
	}
	return v, &strengthError{s, want}
}

// plainDecimal reports whether s is a number in plain decimal (see
// parseStrength).
func plainDecimal(s string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(trimSign(s)), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	if hasExp && (trimSign(exp) == "" || !digits(trimSign(exp))) {
		return false
	}
	return (whole != "" || frac != "") && digits(whole) && digits(frac)
}

// trimSign removes one leading + or - from s.
func trimSign(s string) string {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return s[1:]
	}
	return s
}

// digits reports whether s holds ASCII digits only.
func digits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// isDriveLetter reports whether s is one ASCII letter, a Windows drive.
func isDriveLetter(s string) bool {
	return len(s) == 1 && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

// checkLoRAFiles checks that every LoRA names an existing file, given once
// for each expert: a file given twice for one expert (a flag repeated,
// --lora beside --lora-high, two spellings of one file, a copy of it under
// another name) would stack at the sum of its strengths, which is rarely
// what was meant.
func checkLoRAFiles(loras []wan22.LoRA) error {
	for i, l := range loras {
		if err := checkLoRAFile(l); err != nil {
			return err
		}
		for _, prev := range loras[:i] {
			both, ok := sharedExpert(prev.Expert, l.Expert)
			if !ok {
				continue
			}
			what := "the file is"
			if !sameFile(prev.Path, l.Path) {
				if !sameContent(prev.Path, l.Path) {
					continue
				}
				what = fmt.Sprintf("it holds the same bytes as %s, which is", displayName(prev.Path))
			}
			return fmt.Errorf("%s %s: %s already given for %s (%s %s); the strengths of a LoRA given twice add up (%g there): give it once per expert, with the strength you want",
				loraFlag(l.Expert), displayName(l.Path), what, loraTarget(both), loraFlag(prev.Expert), displayName(prev.Path), prev.Strength+l.Strength)
		}
	}
	return nil
}

// zeroStrengthWarning is the warning, said once, for the LoRAs given at
// strength 0 (FILE:0, :0.0, :-0): such a LoRA changes nothing, yet it is
// read, checked and attached (or merged) like any other, which costs time
// and memory; "" when there is none. i2v gives it with its other warnings
// (on standard error, and as a warning object with --json), bench on
// standard error.
func zeroStrengthWarning(loras []wan22.LoRA) string {
	var given []string
	for _, l := range loras {
		if l.Strength == 0 && l.Path != "" {
			given = append(given, loraFlag(l.Expert)+" "+displayName(l.Path))
		}
	}
	switch len(given) {
	case 0:
		return ""
	case 1:
		return given[0] + " at strength 0 changes nothing, yet the LoRA is still read and applied: leave that flag out, or give the strength you meant (FILE:0.8)"
	}
	return strings.Join(given[:len(given)-1], ", ") + " and " + given[len(given)-1] +
		" at strength 0 change nothing, yet the LoRAs are still read and applied: leave those flags out, or give the strengths you meant (FILE:0.8)"
}

// untrainedLoRAWarning is the warning for the LoRAs whose every up matrix
// is zero (lora.File.Untrained: a LoRA saved before training), which
// change nothing at any strength, one sentence a file, each file said
// once; "" when there is none. A file that cannot be opened is left to the
// run's own check, which names what is wrong with it. i2v gives it with its
// other warnings, bench on standard error, as zeroStrengthWarning.
func untrainedLoRAWarning(loras []wan22.LoRA) string {
	var said []string
	seen := map[string]bool{}
	for _, l := range loras {
		if l.Path == "" || seen[l.Path] {
			continue
		}
		seen[l.Path] = true
		f, err := lora.Open(l.Path)
		if err != nil {
			continue
		}
		zero, err := f.Untrained()
		f.Close()
		if err == nil && zero {
			said = append(said, displayName(l.Path)+" changes nothing: every up matrix is zero (a LoRA saved before training?)")
		}
	}
	return strings.Join(said, "; ")
}

// sameContent reports whether the files at a and b hold the same bytes: a
// copy of one LoRA under another name. Files of different sizes are not
// read, and the comparison stops at the first difference (two LoRAs of one
// size differ in their header or their first tensor).
func sameContent(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil || sa.Size() != sb.Size() {
		return false
	}
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	ended := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if erra != nil || errb != nil { // the same only when both ended, not at a read error
			return ended(erra) && ended(errb)
		}
	}
}

// sharedExpert returns the experts LoRAs for a and for b both apply to, and
// whether there are any.
func sharedExpert(a, b wan22.LoRAExpert) (wan22.LoRAExpert, bool) {
	switch {
	case a == b:
		return a, true
	case a == wan22.LoRABoth:
		return b, true
	case b == wan22.LoRABoth:
		return a, true
	}
	return 0, false
}

// checkLoRAFile checks that l names an existing file. A folder is called
// one, and FILE@STRENGTH where FILE exists (other tools' spelling, and the
// one LoRA values print in logs) gets the colon to use, as do FILE=STRENGTH,
// FILE,STRENGTH and "FILE STRENGTH" (both quoted as one argument).
func checkLoRAFile(l wan22.LoRA) error {
	name := loraFlag(l.Expert)
	if l.Path == "" {
		typed := `""` // the value as given: "" or :STRENGTH
		if l.Strength != 1 {
			typed = strconv.Quote(":" + strconv.FormatFloat(l.Strength, 'g', -1, 64))
		}
		return fmt.Errorf("%s %s: the file name is empty: give a LoRA file, optionally with a strength: %s style.safetensors:0.8", name, typed, name)
	}
	if fileExists(l.Path) {
		return nil
	}
	if st, err := os.Stat(l.Path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a folder: give the LoRA's .safetensors file", name, displayName(l.Path))
	}
	i := strings.LastIndexAny(l.Path, "@=,")
	if i < 0 {
		i = strings.LastIndexByte(l.Path, ' ')
	}
	// (spaces around the separator dropped: "x.safetensors , 0.5")
	if file, st := strings.TrimRight(l.Path[:max(i, 0)], " "), strings.TrimSpace(l.Path[i+1:]); file != "" && fileExists(file) {
		if _, err := parseStrength(st); err == nil {
			return fmt.Errorf("%s %s: no such file; the strength follows a colon: %s %s", name, displayName(l.Path), name, displayName(file+":"+st))
		}
	}
	return fmt.Errorf("%s %s: no such file", name, displayName(l.Path))
}

// loraFlag is the flag that gives LoRAs for e.
func loraFlag(e wan22.LoRAExpert) string {
	if e == wan22.LoRABoth {
		return "--lora"
	}
	return "--lora-" + e.String()
}

// loraTarget says which experts a LoRA for e applies to, for messages.
func loraTarget(e wan22.LoRAExpert) string {
	switch e {
	case wan22.LoRAHigh:
		return "the high-noise expert"
	case wan22.LoRALow:
		return "the low-noise expert"
	}
	return "both experts"
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// solverNames are the --solver values, as help lists them.
func solverNames() []string {
	var names []string
	for _, k := range scheduler.Kinds {
		names = append(names, string(k))
	}
	return append(names, wan22.DistillSolver)
}

// parseSolver reads --solver (v) in any case: "DPM++" is dpm++. It is
// checked with the flags, a usage error naming every solver.
func parseSolver(v string) (string, error) {
	names := solverNames()
	s := strings.ToLower(strings.TrimSpace(v))
	if slices.Contains(names, s) {
		return s, nil
	}
	return "", fmt.Errorf("--solver %q: want one of %s", v, strings.Join(names, ", "))
}

// distillTimesteps reads --timesteps for --solver: the distill solver's step
// list (list when given is set, else scheduler.DefaultDistillTimesteps), or
// nil for the other solvers, which take no list.
func distillTimesteps(solver, list string, given bool) ([]int, error) {
	if solver != wan22.DistillSolver {
		if given {
			return nil, fmt.Errorf("--timesteps is for --solver %s, not %s", wan22.DistillSolver, solver)
		}
		return nil, nil
	}
	if !given {
		return slices.Clone(scheduler.DefaultDistillTimesteps), nil
	}
	ts, err := scheduler.ParseTimesteps(list)
	if err != nil {
		return nil, fmt.Errorf("--timesteps: %w", err)
	}
	return ts, nil
}
