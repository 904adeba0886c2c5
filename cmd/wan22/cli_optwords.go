package main

import "strings"

// The library words some advice with the Options and Request fields a Go
// program sets: a device allocation the driver refuses while the budget allowed it says to
// "stop them, or set Options.VRAMBudget below what they leave free (0, the
// default, takes what was free at Open less 512 MiB)", and a refused pin's
// warning to "raise Options.PinnedBudget" (the wan22 package's optionNames,
// in its errors and in its log lines), and an expert whose latent turns NaN
// with LoRAs attached to "run without the LoRAs (Request.LoRAs)", and a
// LoRA given to an expert that runs no step to "change Request.Boundary or
// Request.SwitchStep". On the
// command line those fields are
// flags, which flagWords names instead. runFailed (standard error and the
// --json error object), the library log's handler (warnHandler, i2v's and
// demo's warnings, plain or --json, and bench's) and bench's own printing of
// a library error (a run's error in the table and report, a fatal one) all
// pass what they print through it.

// optionFlags maps each command that runs the pipeline to the replacer that
// turns the library's words into its own. The demo has -vram-budget but no
// -pinned-budget: it pins at most the default, half of physical memory,
// which wan22 i2v's --pinned-budget raises; nor has it LoRA flags.
var optionFlags = map[string]*strings.Replacer{
	"i2v":   optionReplacer("i2v", true, true),
	"bench": optionReplacer("bench", true, true),
	"demo":  optionReplacer("demo", false, false),
}

// optionReplacer is the replacer of command cmd, whose flags include
// vram-budget, when hasPinned pinned-budget, and when hasLoRA lora-high,
// lora-low and lora, and boundary and switch-step. A phrase that contains a field's bare name starts
// before it, so strings.Replacer, which replaces at the earliest position
// that matches, takes the phrase.
func optionReplacer(cmd string, hasPinned, hasLoRA bool) *strings.Replacer {
	d := flagDash(cmd)
	vram, pinned := d+"vram-budget", d+"pinned-budget"
	raisePinned := "raise " + pinned
	if !hasPinned {
		pinned = "wan22 i2v's --pinned-budget (the " + cmd + " has none)"
		raisePinned = "run wan22 i2v with a larger --pinned-budget (the " + cmd + " has none: it pins at most half of physical memory)"
	}
	loras := d + "lora-high, " + d + "lora-low and " + d + "lora"
	// The expert switch, which a LoRA given to an expert without steps is
	// told to change: the demo, which has neither, never gets that warning.
	boundary, switchStep := d+"boundary", d+"switch-step"
	if !hasLoRA {
		loras = "wan22 i2v's --lora-high, --lora-low and --lora; the " + cmd + " has none"
		boundary, switchStep = "wan22 i2v's --boundary", "wan22 i2v's --switch-step"
	}
	return strings.NewReplacer(
		// engine/modelfile's advice for a LoRA given as a model names the
		// commands' flags and then the library's field, which on the
		// command line is left out rather than turned into flags.
		"; the library: Request.LoRAs", "",
		"Request.LoRAs", loras,
		"Request.Boundary", boundary,
		"Request.SwitchStep", switchStep,
		"set Options.VRAMBudget", "give "+vram,
		// Open is the library's call; the command opens the models when it starts a run.
		"what was free at Open", "what was free when the models were opened,",
		"Options.VRAMBudget", vram,
		"raise Options.PinnedBudget", raisePinned,
		"Options.PinnedBudget", pinned,
	)
}

// flagWords is msg, a library error or log line that command cmd prints,
// with the Options and Request fields it names turned into cmd's flags
// (optionFlags). A command that runs no pipeline gets msg as it is.
func flagWords(cmd, msg string) string {
	if r, ok := optionFlags[cmd]; ok {
		return r.Replace(msg)
	}
	return msg
}
