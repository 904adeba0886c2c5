package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/scheduler"
)

// FlagRangeError reports a flag whose value is outside what the command can
// use: it names the flag, the value given and the values accepted.
type FlagRangeError struct {
	Flag  string // as typed, with its dash: "-layers"
	Value string // the value given
	Want  string // what is accepted: "1 to 200", "a multiple of 128 from 128 to 16384"
}

func (e *FlagRangeError) Error() string {
	return fmt.Sprintf("%s %s is out of range: want %s", e.Flag, e.Value, e.Want)
}

// checkInt checks an integer flag against [lo, hi]. name is the flag with
// its dash; note, when not empty, is added to the accepted range (such as
// "the real model has 40").
func checkInt(name string, v, lo, hi int, note string) error {
	if v >= lo && v <= hi {
		return nil
	}
	want := fmt.Sprintf("%d to %d", lo, hi)
	if note != "" {
		want += " (" + note + ")"
	}
	return &FlagRangeError{Flag: name, Value: strconv.Itoa(v), Want: want}
}

// checkSwitchStep checks --switch-step (v, given when set) against the
// steps of the run's schedule, alike in i2v and bench: 1 to steps − 1, so
// that each expert runs at least one step (after the last step no
// low-noise step would run, yet its expert would still load). Left out,
// the experts switch at --boundary; 0, the library's "unset", is no value
// to give.
func checkSwitchStep(v, steps int, set bool) error {
	if !set {
		return nil
	}
	if steps < 2 {
		return &FlagRangeError{Flag: "--switch-step", Value: strconv.Itoa(v),
			Want: fmt.Sprintf("none: a %d-step schedule cannot switch experts; leave --switch-step out", steps)}
	}
	return checkInt("--switch-step", v, 1, steps-1, "the step after which the low-noise expert takes over, each expert running at least one step; leave it out to switch at --boundary")
}

// checkFloat checks a float flag: finite (not NaN or ±Inf) and within
// [lo, hi]. name is the flag with its dash.
func checkFloat(name string, v, lo, hi float64) error {
	if !math.IsNaN(v) && !math.IsInf(v, 0) && v >= lo && v <= hi {
		return nil
	}
	return &FlagRangeError{Flag: name, Value: strconv.FormatFloat(v, 'g', -1, 64),
		Want: "a number from " + strconv.FormatFloat(lo, 'g', -1, 64) + " to " + strconv.FormatFloat(hi, 'g', -1, 64)}
}

// checkPositive checks a float flag that must be greater than 0 and at
// most hi, such as --shift: finite, 0 itself refused. name is the flag with
// its dash.
func checkPositive(name string, v, hi float64) error {
	if !math.IsNaN(v) && v > 0 && v <= hi {
		return nil
	}
	return &FlagRangeError{Flag: name, Value: strconv.FormatFloat(v, 'g', -1, 64),
		Want: "a number greater than 0, at most " + strconv.FormatFloat(hi, 'g', -1, 64)}
}

// maxGiB is the largest memory or disk amount a flag may give in GiB: more
// than any machine wan22 runs on has, small enough that GiB × 2³⁰ fits an
// int64 with room to spare.
const maxGiB = 1 << 20

// checkGiB checks a memory or disk budget given in GiB (-vram,
// --vram-budget, --pinned-budget, …): finite, not negative, at most max
// (maxGiB when max is 0 or above it). 0 is allowed; what it means (no limit,
// all free memory) is the caller's to say.
func checkGiB(name string, v, max float64) error {
	if max <= 0 || max > maxGiB {
		max = maxGiB
	}
	if err := checkFloat(name, v, 0, max); err != nil {
		e := err.(*FlagRangeError)
		e.Want = "GiB from 0 to " + strconv.FormatFloat(max, 'f', -1, 64)
		return e
	}
	return nil
}

// formatGB writes a byte count in decimal units, as disk sizes are quoted:
// "15.42 GB", "240.13 MB", "912 bytes".
func formatGB(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkText refuses a prompt flag's value that is not UTF-8 text (a
// terminal, script or file in Latin-1 or Windows-1252): umT5 would read each
// invalid byte as a space, so "café" would silently become "caf ". name is
// the flag with its dash.
func checkText(name, v string) error {
	for i, r := range v {
		if r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD") {
			return fmt.Errorf("%s is not UTF-8 text (byte 0x%02x at offset %d; in another encoding, e.g. Latin-1?): umT5 would read each such byte as a space; give it in UTF-8 (set the terminal to UTF-8, or convert the text, e.g. iconv -f LATIN1 -t UTF-8)", name, v[i], i)
		}
	}
	return nil
}

// checkDevice checks --device (v): cpu, cuda or auto. cuda is refused in a
// binary built without CUDA, before any work starts.
func checkDevice(v string) error { return checkDeviceIn("--", v) }

// checkDeviceIn is checkDevice for a command whose flags start with dash
// ("--", or the demo's "-"), as its messages name them.
func checkDeviceIn(dash, v string) error {
	switch v {
	case wan22.DeviceCPU, "auto":
		return nil
	case wan22.DeviceCUDA:
		if !cudaAvailable() {
			return fmt.Errorf("%sdevice cuda: this binary was built without CUDA: build it with `make cuda`, or use %sdevice cpu", dash, dash)
		}
		return nil
	}
	return fmt.Errorf("%sdevice %q: use cpu, cuda or auto", dash, v)
}

// The largest seeds: of the noise (wan22.Request.Seed, a uint64), and of
// synthetic weights (the engine's WriteSynthetic take an int64).
const (
	maxSeed      uint64 = math.MaxUint64
	maxSynthSeed uint64 = math.MaxInt64
)

// addSeedFlag adds the flag --seed to fs, stored in p: a whole number from
// 0 to max (maxSeed, or synth's maxSynthSeed); what says what it seeds. Its help names the value as its range does ("-seed number"),
// where the flag package would print "value" for a type of its own.
func addSeedFlag(fs *flag.FlagSet, p *uint64, max uint64, what string) {
	fs.Var(seedValue{p, max}, "seed", fmt.Sprintf("%s: a whole `number` from 0 to %d", what, max))
}

// seedValue is a --seed flag: a whole number from 0 to max, with an error
// that says so (the flag package's Uint64 says only "parse error", and its
// Int64 takes negative numbers).
type seedValue struct {
	p   *uint64
	max uint64
}

func (s seedValue) String() string {
	if s.p == nil {
		return "0"
	}
	return strconv.FormatUint(*s.p, 10)
}

func (s seedValue) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > s.max {
		return fmt.Errorf("a seed is a whole number from 0 to %d", s.max)
	}
	*s.p = n
	return nil
}

// attentionUsage is the help of --attention, the same in every command.
const attentionUsage = "attention arithmetic on the GPU: bf16, or int8 / fp8 (opt-in 8-bit attention, slightly less accurate; needs the CUDA backend; int8 is faster on GPUs without Hopper's warpgroup tensor cores, such as the RTX 30/40/50 cards; on an H100 both are slower than bf16)"

// cudaAvailable reports whether this binary has CUDA (tests replace it).
var cudaAvailable = cuda.Available

// checkAttention reads --attention (value v) for a run on device ("cpu",
// "cuda" or "auto"). 8-bit attention needs the GPU: it is refused on the
// CPU, and with auto when this binary has no CUDA, before any work starts.
// With auto in a CUDA binary the library refuses it if no GPU opens.
func checkAttention(v, device string) (wan22.AttentionPrecision, error) {
	return checkAttentionIn("--", v, device)
}

// checkAttentionIn is checkAttention for a command whose flags start with
// dash ("--", or the demo's "-"), as its messages name them.
func checkAttentionIn(dash, v, device string) (wan22.AttentionPrecision, error) {
	a, err := wan22.ParseAttentionPrecision(v)
	if err != nil {
		return "", fmt.Errorf("%sattention: %w", dash, err)
	}
	if a == wan22.AttentionBF16 {
		return a, nil
	}
	switch {
	case device == wan22.DeviceCPU:
		return "", fmt.Errorf("%sattention %s: 8-bit attention needs the CUDA backend, and %sdevice cpu computes attention in f32: use %sattention bf16 or %sdevice cuda", dash, a, dash, dash, dash)
	case !cudaAvailable():
		return "", fmt.Errorf("%sattention %s: 8-bit attention needs the CUDA backend, and this binary was built without CUDA: build it with `make cuda`, or use %sattention bf16", dash, a, dash)
	}
	return a, nil
}

// checkVRAMBudget refuses a VRAM budget (in GiB, flag name) for a run that
// is on the CPU before anything opens: device cpu, or auto in a binary
// without CUDA. The CPU has no device memory to budget, and a budget taken
// silently would read as one that applies. dash is how the command's flags
// start ("--", or the demo's "-").
func checkVRAMBudget(dash string, gib float64, device string) error {
	return checkGPUOnly(dash, "vram-budget", gib != 0, device, "has no device memory to budget")
}

// checkPinnedBudget refuses a pinned-memory budget (GiB) for a run on the
// CPU, as checkVRAMBudget a VRAM budget: pinned memory holds the DiT blocks
// swapped to the GPU, and the CPU swaps none.
func checkPinnedBudget(dash string, gib float64, device string) error {
	return checkGPUOnly(dash, "pinned-budget", gib != 0, device, "swaps no blocks and so uses no pinned memory to budget")
}

// checkGPUOnly refuses the flag name, given, of a setting only the GPU
// uses, for a run that is on the CPU before anything opens (device cpu, or
// auto in a binary without CUDA); why completes "the CPU …".
func checkGPUOnly(dash, name string, given bool, device, why string) error {
	switch {
	case !given:
		return nil
	case device == wan22.DeviceCPU:
		return fmt.Errorf("%s%s needs the GPU (%sdevice cuda): the CPU %s; leave %s%s out", dash, name, dash, why, dash, name)
	case device == "auto" && !cudaAvailable():
		return fmt.Errorf("%s%s needs the GPU, and this binary was built without CUDA, so it runs on the CPU, which %s: leave %s%s out, or build with `make cuda`", dash, name, why, dash, name)
	}
	return nil
}

// parseFlagsJSON is parseFlags for a command with a --json flag (i2v,
// demo): when the flags fail to parse while the arguments ask for --json,
// the error also goes to stdout as the JSON error object that ends every
// failed --json stream (emitJSONError), though --json itself may never
// have been parsed.
func parseFlagsJSON(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	code, ok, err := parseFlagsErr(fs, args)
	if err != nil && jsonAsked(fs, args) {
		emitJSONError(stdout, err.Error(), code)
	}
	return code, ok
}

// jsonAsked reports whether args, the flags of fs, ask for --json (or
// -json, -json=true, …; the last one given counts), read as the flag
// package reads them up to the first argument that is no flag: a value
// that follows a flag (--prompt --json) is that flag's. An unknown flag is
// taken to have no value.
func jsonAsked(fs *flag.FlagSet, args []string) bool {
	asked := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "json" {
			v, err := strconv.ParseBool(value)
			asked = !hasValue || (err == nil && v)
			continue
		}
		fl := fs.Lookup(name)
		if fl == nil || hasValue {
			continue
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			i++ // the next argument is the flag's value
		}
	}
	return asked
}

// flagRanges is what a number flag accepts, by command and flag name, as
// the command checks it after parsing: said when the value does not parse
// as a number at all (TestFlagRangesMatchChecks keeps the two alike).
var flagRanges = map[string]string{
	"i2v frames":           framesWant,
	"i2v steps":            stepsWant,
	"i2v max-area":         fmt.Sprintf("256 to %d", pipeline.MaxSide*pipeline.MaxSide),
	"i2v fps":              "1 to 1000",
	"i2v switch-step":      "1 to --steps − 1",
	"i2v shift":            "greater than 0, at most 100",
	"i2v boundary":         "0.001 to 1",
	"i2v vram-budget":      gibWant,
	"i2v pinned-budget":    gibWant,
	"i2v host-budget":      gibWant,
	"bench steps":          "1 to 50",
	"bench schedule-steps": fmt.Sprintf("2 to %d", scheduler.MaxSteps),
	"bench switch-step":    "1 to --schedule-steps − 1",
	"bench synth-lora":     "0 to 1024",
	"bench shift":          "greater than 0, at most 100",
	"bench boundary":       "0 to 1",
	"bench pinned-budget":  gibWant,
	"demo frames":          framesWant,
	"demo steps":           stepsWant,
	"demo width":           fmt.Sprintf("a multiple of 16 from 16 to %d", pipeline.MaxSide),
	"demo height":          fmt.Sprintf("a multiple of 16 from 16 to %d", pipeline.MaxSide),
	"demo vram-budget":     gibWant,
}

var (
	framesWant = fmt.Sprintf("a count 4k+1 from 1 to %d", pipeline.MaxFrames)
	stepsWant  = fmt.Sprintf("1 to %d", scheduler.MaxSteps)
	gibWant    = fmt.Sprintf("GiB from 0 to %d", maxGiB)
)

// flagDash is how the command's flags start in its messages: "--" for i2v
// and bench, "-" for the others (the demo, synth, inspect).
func flagDash(cmd string) string {
	if cmd == "i2v" || cmd == "bench" {
		return "--"
	}
	return "-"
}

// flagValueError rewrites the flag package's error for a number flag whose
// value does not parse ('invalid value "1.5" for flag -steps: parse
// error', or 'value out of range' for a whole number too large for any
// integer) to name the flag as the command does, with what it accepts:
// "--steps 1.5: give a whole number (1 to 10000)", and a FlagRangeError
// for a number out of the type's range, as for one out of the command's.
// Other errors are returned as they are.
func flagValueError(fs *flag.FlagSet, err error) error {
	rest, ok := strings.CutPrefix(err.Error(), "invalid value ")
	if !ok {
		return err
	}
	q, qerr := strconv.QuotedPrefix(rest)
	if qerr != nil {
		return err
	}
	rest, ok = strings.CutPrefix(rest[len(q):], " for flag -")
	name, why, _ := strings.Cut(rest, ": ")
	fl := fs.Lookup(name)
	if !ok || fl == nil {
		return err
	}
	var want string
	switch v := fl.Value.(type) {
	case seedValue:
		want = fmt.Sprintf("a whole number from 0 to %d", v.max)
	case flag.Getter:
		switch v.Get().(type) {
		case int, int64:
			want = "a whole number"
		case uint, uint64:
			want = "a whole number, 0 or more"
		case float64:
			want = "a number"
		}
	}
	if want == "" {
		return err
	}
	r := flagRanges[fs.Name()+" "+name]
	value, _ := strconv.Unquote(q)
	if value == "" || strings.ContainsFunc(value, func(r rune) bool { return r <= ' ' || r == '"' }) {
		value = q
	}
	flagName := flagDash(fs.Name()) + name
	if why == "value out of range" { // a number, too large (or small) for the flag's type
		if r == "" {
			r = want
		}
		return &FlagRangeError{Flag: flagName, Value: value, Want: r}
	}
	if r != "" {
		want += " (" + r + ")"
	}
	return fmt.Errorf("%s %s: give %s", flagName, value, want)
}
