package main

import "strings"

// The library words some advice with the Options fields a Go program sets:
// a device allocation the driver refuses while the budget allowed it says to
// "stop them, or set Options.VRAMBudget below what they leave free (0, the
// default, takes what was free at Open less 512 MiB)", and a refused pin's
// warning to "raise Options.PinnedBudget" (the wan22 package's optionNames,
// in its errors and in its log lines). On the command line those fields are
// flags, which flagWords names instead. runFailed (standard error and the
// --json error object), the library log's handler (warnHandler, i2v's and
// demo's warnings, plain or --json, and bench's) and bench's own printing of
// a library error (a run's error in the table and report, a fatal one) all
// pass what they print through it.

// optionFlags maps each command that runs the pipeline to the replacer that
// turns the library's words into its own. The demo has -vram-budget but no
// -pinned-budget: it pins at most the default, half of physical memory,
// which wan22 i2v's --pinned-budget raises.
var optionFlags = map[string]*strings.Replacer{
	"i2v":   optionReplacer("i2v", true),
	"bench": optionReplacer("bench", true),
	"demo":  optionReplacer("demo", false),
}

// optionReplacer is the replacer of command cmd, whose flags include
// vram-budget and, when hasPinned, pinned-budget. A phrase that contains a
// field's bare name starts before it, so strings.Replacer, which replaces
// at the earliest position that matches, takes the phrase.
func optionReplacer(cmd string, hasPinned bool) *strings.Replacer {
	vram, pinned := flagDash(cmd)+"vram-budget", flagDash(cmd)+"pinned-budget"
	raisePinned := "raise " + pinned
	if !hasPinned {
		pinned = "wan22 i2v's --pinned-budget (the " + cmd + " has none)"
		raisePinned = "run wan22 i2v with a larger --pinned-budget (the " + cmd + " has none: it pins at most half of physical memory)"
	}
	return strings.NewReplacer(
		"set Options.VRAMBudget", "give "+vram,
		// Open is the library's call; the command opens the models when it starts a run.
		"what was free at Open", "what was free when the models were opened,",
		"Options.VRAMBudget", vram,
		"raise Options.PinnedBudget", raisePinned,
		"Options.PinnedBudget", pinned,
	)
}

// flagWords is msg, a library error or log line that command cmd prints,
// with the Options fields it names turned into cmd's flags (optionFlags).
// A command that runs no pipeline gets msg as it is.
func flagWords(cmd, msg string) string {
	if r, ok := optionFlags[cmd]; ok {
		return r.Replace(msg)
	}
	return msg
}
