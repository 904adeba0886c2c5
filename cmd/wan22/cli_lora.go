package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/wan22/wan22"
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

// parseLoRA reads a --lora* value, FILE or FILE:STRENGTH, for the expert e.
// A colon followed by something that is not a number is part of the file
// name when that file exists (C:\loras\x.safetensors), and an error
// otherwise.
func parseLoRA(v string, e wan22.LoRAExpert) (wan22.LoRA, error) {
	l := wan22.LoRA{Path: v, Strength: 1, Expert: e}
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		st, err := strconv.ParseFloat(v[i+1:], 64)
		switch {
		case err == nil:
			l.Path, l.Strength = v[:i], st
		case !fileExists(v):
			return l, fmt.Errorf("want FILE or FILE:STRENGTH, and %q is not a number", v[i+1:])
		}
	}
	if l.Path == "" {
		return l, errors.New("want FILE or FILE:STRENGTH: the file name is empty")
	}
	if err := checkFloat("strength", l.Strength, -pipeline.MaxLoRAStrength, pipeline.MaxLoRAStrength); err != nil {
		return l, err
	}
	return l, nil
}

// checkLoRAFiles checks that every LoRA names an existing file.
func checkLoRAFiles(loras []wan22.LoRA) error {
	for _, l := range loras {
		if !fileExists(l.Path) {
			return fmt.Errorf("%s %s: no such file", loraFlag(l.Expert), l.Path)
		}
	}
	return nil
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
