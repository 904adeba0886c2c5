package pipeline

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
)

// LoRAExpert says which experts a LoRA applies to.
type LoRAExpert int

// The experts a LoRA may apply to. WAN 2.2 A14B LoRAs usually come as a
// pair, one file per expert; style LoRAs often apply to both.
const (
	LoRABoth LoRAExpert = iota // both experts (the zero value)
	LoRAHigh                   // the high-noise expert only
	LoRALow                    // the low-noise expert only
)

// String returns "both", "high" or "low".
func (e LoRAExpert) String() string {
	switch e {
	case LoRABoth:
		return "both"
	case LoRAHigh:
		return "high"
	case LoRALow:
		return "low"
	}
	return "LoRAExpert(" + strconv.Itoa(int(e)) + ")"
}

// MarshalText makes a LoRAExpert appear by name in JSON.
func (e LoRAExpert) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// appliesTo reports whether a LoRA for e is attached to the expert of stage s.
func (e LoRAExpert) appliesTo(s Stage) bool {
	return e == LoRABoth || (e == LoRAHigh && s == HighNoise) || (e == LoRALow && s == LowNoise)
}

// LoRA is a LoRA file (safetensors, any key style engine/lora reads)
// attached at run time to one or both experts: each adapted linear computes
// W·x + s·B·(A·x) with s = Strength·alpha/rank, the base weights untouched.
type LoRA struct {
	Path string `json:"path"`
	// Strength multiplies the adapter; 1 is the file as trained, 0 leaves
	// the model as it is, negative values are allowed.
	Strength float64    `json:"strength"`
	Expert   LoRAExpert `json:"expert"`
	// Merge adds the adapters into the expert's F32/F16/BF16 weights when
	// it loads (W + s·B·A, dit.LoRAOptions.Merge): no run-time cost, and on
	// the GPU the merge is one GEMM per matrix, in place (one matrix of
	// extra memory at most while it runs); on the CPU backend it is a host
	// product. Quantized weights and the matrices of swapped blocks keep
	// the run-time path.
	Merge bool `json:"merge,omitempty"`
}

func (l LoRA) String() string {
	merged := ""
	if l.Merge {
		merged = ", merged"
	}
	return fmt.Sprintf("%s@%s (%s%s)", l.Path, strconv.FormatFloat(l.Strength, 'g', -1, 64), l.Expert, merged)
}

// MaxLoRAStrength bounds |Strength|: far beyond any useful value (LoRAs are
// trained for 1), it keeps a mistyped value from making Inf weights.
const MaxLoRAStrength = 100

// validate checks the fields of l, not its file.
func (l LoRA) validate() error {
	switch {
	case l.Path == "":
		return fmt.Errorf("a LoRA has no file path")
	case math.IsNaN(l.Strength) || math.IsInf(l.Strength, 0) || math.Abs(l.Strength) > MaxLoRAStrength:
		return fmt.Errorf("LoRA %s: strength %v must be a finite number from %d to %d", l.Path, l.Strength, -MaxLoRAStrength, MaxLoRAStrength)
	case l.Expert < LoRABoth || l.Expert > LoRALow:
		return fmt.Errorf("LoRA %s: unknown expert %v: use LoRABoth, LoRAHigh or LoRALow", l.Path, l.Expert)
	}
	return nil
}

// CheckLoRAs checks every LoRA against the experts it applies to before any
// model is loaded, so that a wrong file fails in seconds rather than after
// the VAE and the text encoder ran: it reads each expert's shapes from its
// file header, opens each LoRA file and checks that it is a LoRA for that
// model (the same check as attaching it does), and that its full-weight
// deltas (.diff) are not for quantized matrices, which are applied only to
// F32/F16/BF16 weights. Each file's values are read once, for NaNs,
// infinities and magnitudes no LoRA has (lora.File.CheckWeights): a LoRA is
// small beside the experts, and a damaged one would otherwise fail only when
// its expert loads, or as a NaN latent at the first step. A LoRA for
// both experts is checked against both at once, and its error says so: the
// experts it was given for, or the one that refuses it.
func CheckLoRAs(m Models, loras []LoRA) error {
	for _, l := range loras {
		if err := l.validate(); err != nil {
			return err
		}
	}
	experts := map[Stage]*expertHeader{}
	defer func() {
		for _, e := range experts {
			e.src.Close()
		}
	}()
	read := map[string]bool{} // the paths whose values were checked
	// The high-noise expert's LoRAs (those for both included), then the
	// low-noise expert's own.
	for _, s := range []Stage{HighNoise, LowNoise} {
		for _, l := range loras {
			if !l.Expert.appliesTo(s) || (s == LowNoise && l.Expert == LoRABoth) {
				continue
			}
			var hs []*expertHeader
			for _, st := range []Stage{HighNoise, LowNoise} {
				if !l.Expert.appliesTo(st) {
					continue
				}
				h, err := openExpertHeader(m, st, experts)
				if err != nil {
					return err
				}
				hs = append(hs, h)
			}
			if err := checkLoRA(l, hs, read); err != nil {
				return err
			}
		}
	}
	return nil
}

// expertHeader is an expert's file opened for its header: its path, role
// ("high-noise expert"), tensors and shape.
type expertHeader struct {
	path, what string
	src        gguf.Source
	arch       lora.Arch
}

// openExpertHeader opens the expert of stage s of m, once: open keeps those
// opened, for the caller to close.
func openExpertHeader(m Models, s Stage, open map[Stage]*expertHeader) (*expertHeader, error) {
	if h, ok := open[s]; ok {
		return h, nil
	}
	path, what := m.expert(s)
	src, _, err := modelfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cfg, err := dit.ConfigFrom(src)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	h := &expertHeader{path: path, what: what, src: src, arch: cfg.Arch()}
	open[s] = h
	return h, nil
}

// expert returns the model file and role of the expert of stage s.
func (m Models) expert(s Stage) (path, what string) {
	if s == HighNoise {
		return m.High, "high-noise expert"
	}
	return m.Low, "low-noise expert"
}

// checkLoRA checks l against the experts hs it applies to (one, or both for
// LoRABoth), and its values unless its path is in read (adding it). An
// error of the file itself (it does not open, its values are damaged) says
// which experts it was given for; one of an expert (the LoRA is for another
// model, a delta of a quantized matrix) names the expert file, or both when
// both refuse it.
func checkLoRA(l LoRA, hs []*expertHeader, read map[string]bool) error {
	given := "the " + hs[0].what
	if len(hs) > 1 {
		given = "the high-noise expert and the low-noise expert"
	}
	f, err := lora.Open(l.Path)
	if err != nil {
		return fmt.Errorf("LoRA for %s: %w", given, err)
	}
	defer f.Close()
	var first error
	var refused, took []*expertHeader
	for _, h := range hs {
		err := f.Check(h.arch)
		if err == nil {
			err = checkDeltaTypes(f, h.src)
		}
		if err == nil {
			took = append(took, h)
			continue
		}
		refused = append(refused, h)
		first = cmp.Or(first, err)
	}
	switch {
	case len(refused) == 0:
	case len(hs) == 1:
		return fmt.Errorf("LoRA for the %s %s: %w", refused[0].what, refused[0].path, first)
	case len(took) == 1:
		return fmt.Errorf("LoRA for both experts, refused by the %s %s (the %s %s accepts it): %w", refused[0].what, refused[0].path, took[0].what, took[0].path, first)
	case hs[0].path == hs[1].path:
		return fmt.Errorf("LoRA for the high-noise expert and the low-noise expert (both %s): %w", hs[0].path, first)
	default:
		return fmt.Errorf("LoRA for the high-noise expert %s and the low-noise expert %s: %w", hs[0].path, hs[1].path, first)
	}
	if !read[l.Path] {
		read[l.Path] = true
		if err := checkValuesOnce(f, l.Path); err != nil {
			return fmt.Errorf("LoRA for %s: %w", given, err)
		}
	}
	return nil
}

// fileID is a file as it stands: its path, size and modification time.
type fileID struct {
	path string
	size int64
	mod  time.Time
}

// valuesChecked holds the LoRA files whose values checkValuesOnce found
// finite and in range, as they stood then: a Generate checks its LoRAs when it resolves
// the request and again in I2V (and the CLI resolves once more to print its
// estimate), and reading a large LoRA three times would be work done twice.
var valuesChecked sync.Map // fileID → struct{}

// checkValues is lora.File.CheckWeights (a variable for the tests).
var checkValues = (*lora.File).CheckWeights

// checkValuesOnce runs f's CheckWeights unless the file at path, unchanged
// since (size and modification time), already passed it.
func checkValuesOnce(f *lora.File, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return checkValues(f)
	}
	id := fileID{path, st.Size(), st.ModTime()}
	if _, ok := valuesChecked.Load(id); ok {
		return nil
	}
	if err := checkValues(f); err != nil {
		return err
	}
	valuesChecked.Store(id, struct{}{})
	return nil
}

// checkDeltaTypes refuses full-weight deltas of matrices stored quantized in
// src (dit.Model.AttachLoRA's rule, checked here from the file header).
func checkDeltaTypes(f *lora.File, src gguf.Source) error {
	for _, d := range f.Diffs {
		ti, ok := src.Lookup(d.Param)
		if !ok {
			ti, ok = src.Lookup(dit.Prefix + d.Param)
		}
		if !ok || len(ti.Shape) < 2 {
			continue // AttachLoRA names what the model lacks
		}
		switch ti.Type {
		case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
			continue
		}
		return fmt.Errorf("tensor %q of %s is a full-weight delta of %s, which is %v in the model file: deltas apply only to F32, F16 or BF16 weights; use an F16/BF16 model file or a LoRA without .diff tensors",
			d.Key, f.Name, d.Param, ti.Type)
	}
	return nil
}

// mergeBytes bounds the device memory merging the opened LoRAs of a stage
// (openLoRAs) into the expert src takes: a merge rewrites one matrix at a
// time (the merged copy is made, then the original freed), so the largest
// F32/F16/BF16 matrix one of them adapts with Merge set.
func mergeBytes(src gguf.Source, loras []dit.LoadLoRA) int64 {
	var n int64
	seen := map[string]bool{}
	for _, l := range loras {
		if !l.Options.Merge || l.File == nil {
			continue
		}
		for _, a := range l.File.Adapters {
			name := a.Module + ".weight"
			ti, ok := src.Lookup(name)
			if !ok {
				ti, ok = src.Lookup(dit.Prefix + name)
			}
			if !ok || seen[name] {
				continue
			}
			switch ti.Type {
			case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
				seen[name] = true
				n = max(n, ti.Size)
			}
		}
	}
	return n
}

// openLoRAs opens the LoRAs of stage s, in order, for dit.Run.LoRAs; done
// closes them (after LoadForRun returns). On an error none stays open.
func openLoRAs(s Stage, loras []LoRA) (out []dit.LoadLoRA, done func(), err error) {
	var files []*lora.File
	done = func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, l := range loras {
		if !l.Expert.appliesTo(s) {
			continue
		}
		f, err := lora.Open(l.Path)
		if err != nil {
			done()
			return nil, func() {}, err
		}
		files = append(files, f)
		out = append(out, dit.LoadLoRA{File: f, Strength: float32(l.Strength), Options: dit.LoRAOptions{Merge: l.Merge}})
	}
	return out, done, nil
}

// logMerges logs, for each LoRA of stage s that asked to be merged, how many
// modules were merged and how many kept the run-time path, and warns when
// some kept it for being quantized (the common Q8_0 GGUF experts merge none
// of a LoRA of the blocks); loaded is dit.Model.LoadedLoRAs, in the order of
// the stage's LoRAs.
func logMerges(s Stage, loras []LoRA, loaded []dit.LoRAAttach, log *slog.Logger) {
	i := 0
	for _, l := range loras {
		if !l.Expert.appliesTo(s) {
			continue
		}
		if i < len(loaded) && l.Merge {
			a := loaded[i]
			log.Info("LoRA merged", "expert", s.String(), "lora", l.Path, "merged", len(a.Merged), "run_time", a.RunTime)
			if n, types := quantizedRunTime(a.RunTime); n > 0 {
				log.Warn(fmt.Sprintf("LoRA %s not merged into %d of the %d weights it adapts in the %s expert: the %s ones keep the run-time path; only an F16/BF16/F32 model file merges them",
					l.Path, n, len(a.RunTime)+len(a.Merged), s, strings.Join(types, " and ")))
			}
		}
		i++
	}
}

// quantizedRunTime counts the modules of a dit.LoRAAttach.RunTime list
// ("blocks.3.ffn.0 (Q8_0)", "blocks.7.ffn.0 (swapped block)") kept at run
// time for their weight type, and returns those types ("Q8_0") in order of
// first appearance.
func quantizedRunTime(runTime []string) (n int, types []string) {
	for _, m := range runTime {
		_, why, _ := strings.Cut(m, " (")
		why = strings.TrimSuffix(why, ")")
		if why == "" || why == "swapped block" {
			continue
		}
		n++
		if !slices.Contains(types, why) {
			types = append(types, why)
		}
	}
	return n, types
}
