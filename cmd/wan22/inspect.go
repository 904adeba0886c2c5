package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/safetext"
)

// runInspect implements `wan22 inspect [-v] [--json] FILE...`.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", "wan22 inspect [-v] [--json] FILE... (flags may also follow the files; -- ends them)",
		"Describes GGUF and safetensors model files: format, detected architecture and\n"+
			"its dimensions, tensor count, bytes per tensor type and metadata. On a LoRA\n"+
			"file: its key style, ranks and alphas, the layers it touches and the models\n"+
			"(and expert) it fits. --json prints the same as one JSON object per file.", stderr)
	verbose := fs.Bool("v", false, "list every tensor: name, type, shape (PyTorch order) and bytes")
	asJSON := fs.Bool("json", false, "print each file's report as one JSON object, on a line of its own; a file that cannot be read is an object of type \"error\" (its message also on stderr)")
	// The names and keys printed come from the files, which may be crafted
	// or damaged: their control characters are escaped.
	stdout, stderr = controlEscaper{stdout}, controlEscaper{stderr}
	out := &writeCheck{w: stdout} // the first failed write ends the command (unwritten)
	// jsonOut is out for JSON text: a control character json.Marshal leaves
	// raw (DEL, the C1 controls) is written as a JSON escape, which
	// controlEscaper passes, rather than as controlEscaper's \x7f, which is
	// no JSON.
	jsonOut := jsonControlEscaper{out}
	files, code, ok, err := parseInterspersed(fs, args)
	if !ok {
		if err != nil && inspectJSONAsked(args) {
			emitJSONError(jsonOut, err.Error(), code)
		}
		return code
	}
	if len(files) == 0 {
		if *asJSON {
			emitJSONError(jsonOut, "give at least one model file", 2)
		}
		return usageError(stderr, "inspect", "give at least one model file")
	}
	status, printed := 0, false
	for _, path := range files {
		var failed error
		if _, err := os.Lstat(path); path != "" && errors.Is(err, os.ErrNotExist) {
			failed = fmt.Errorf("%s does not exist", path)
		}
		var rep *modelfile.Report
		if failed == nil {
			rep, failed = modelfile.Inspect(path)
		}
		if failed == nil && *asJSON {
			failed = writeInspectJSON(jsonOut, rep, *verbose)
		}
		switch {
		case failed != nil:
			fmt.Fprintf(stderr, "wan22 inspect: %v\n", failed)
			status = 1
			if *asJSON {
				emitJSONError(jsonOut, failed.Error(), 1)
			}
		case *asJSON: // written
		default:
			if printed {
				fmt.Fprintln(out)
			}
			printed = true
			sum, notApplied := inspectLoRA(path, rep)
			if sum != nil {
				fmt.Fprint(out, *sum)
			}
			if (sum == nil || *verbose) && out.err == nil {
				writeReportText(out, rep, *verbose, otherModelLoRA(notApplied)) // its error is out.err
				if notApplied != nil && out.err == nil {
					fmt.Fprintf(out, "  %s\n", loraProblem(path, notApplied))
				}
			}
		}
		if out.err != nil {
			return unwritten(out.err, status, stderr)
		}
	}
	return status
}

// unwritten is the exit status once the report could not be written to
// standard output (err): a reader that went away (`wan22 inspect -v FILE |
// head`: a broken pipe) ends the command quietly with the status so far, as
// it ends other command-line tools; any other failure (a full disk) is said,
// without Go's "write /dev/stdout: ", and is status 1.
func unwritten(err error, status int, stderr io.Writer) int {
	if isBrokenPipe(err) {
		return status
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	fmt.Fprintf(stderr, "wan22 inspect: the report could not be written to standard output: %v\n", err)
	return 1
}

// parseInterspersed parses fs's flags wherever they are among the
// arguments (`wan22 inspect FILE -v` as well as `-v FILE`) and returns the
// other arguments in order; after "--" every argument is one, so a file
// named like a flag can be given. ok false: exit with code, as parseFlags;
// err is the usage error reported (nil after -h).
func parseInterspersed(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool, err error) {
	for {
		if code, ok, err := parseFlagsErr(fs, args); !ok {
			return nil, code, false, err
		}
		consumed := len(args) - fs.NArg()
		if fs.NArg() == 0 {
			return rest, 0, true, nil
		}
		if consumed > 0 && args[consumed-1] == "--" {
			return append(rest, fs.Args()...), 0, true, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// inspectJSONAsked reports whether inspect's arguments ask for --json (or
// -json, -json=true; the last one given counts), wherever it is among the
// files: every flag of inspect is a boolean, so each argument before "--"
// that starts with "-" is a flag. Flags that fail to parse are the reason
// to ask, so it reads args itself.
func inspectJSONAsked(args []string) bool {
	asked := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if len(a) < 2 || a[0] != '-' || name != "json" {
			continue
		}
		v, err := strconv.ParseBool(value)
		asked = !hasValue || (err == nil && v)
	}
	return asked
}

// inspectLoRA describes the file at path, whose report is rep, as a LoRA:
// sum is lora's summary when it is a LoRA wan22 can apply (inspect prints
// it instead of the report); notApplied is why not when its tensor names
// are a LoRA's or an adapter's but wan22 cannot apply it (said after the
// report). Only a safetensors file of no model kind is tried.
func inspectLoRA(path string, rep *modelfile.Report) (sum *lora.Summary, notApplied error) {
	if rep.Info.Kind != modelfile.KindUnknown || rep.Format != modelfile.FormatSafetensors {
		return nil, nil
	}
	s, err := lora.Inspect(path)
	switch {
	case err == nil:
		return &s, nil
	case looksLikeLoRA(rep):
		return nil, err
	}
	return nil, nil
}

// loraProblem is the line that says why a file with LoRA names is not a
// LoRA wan22 can apply (err, lora's error for the file at path). The
// report names the file: the error's "lora: PATH: " is not repeated, PATH
// as lora prints it (safetext.Path: quoted where the name holds a control
// or invisible character).
func loraProblem(path string, err error) string {
	return "LoRA: not one wan22 can apply: " + strings.TrimPrefix(err.Error(), "lora: "+safetext.Path(path)+": ")
}

// otherModelLoRA is what a file is when lora's error for it (notApplied,
// from inspectLoRA) refuses it as a LoRA for another model than WAN (an
// SDXL UNet's, FLUX's, …: a *lora.WrongModelError), naming that model as
// lora does; "" for any other error or none. The report says it where modelfile's
// architecture line calls it a LoRA that attaches to a DiT expert.
func otherModelLoRA(notApplied error) string {
	var wrong *lora.WrongModelError
	if !errors.As(notApplied, &wrong) {
		return ""
	}
	return "LoRA for " + wrong.Model + ", not for WAN: it attaches to no WAN DiT expert"
}

// writeReportText writes rep's text report (modelfile's WriteText) to w,
// its architecture line saying arch instead where arch is not "".
func writeReportText(w io.Writer, rep *modelfile.Report, verbose bool, arch string) {
	if arch == "" {
		rep.WriteText(w, verbose)
		return
	}
	var b bytes.Buffer
	rep.WriteText(&b, verbose)
	line := "  architecture:  "
	w.Write(bytes.Replace(b.Bytes(), []byte(line+rep.Info.Summary()+"\n"), []byte(line+arch+"\n"), 1))
}

// looksLikeLoRA reports whether a file has tensor names of a LoRA or of a
// LyCORIS adapter (LoHa hada_*, LoKr lokr_*, …) in any naming.
func looksLikeLoRA(rep *modelfile.Report) bool {
	for _, t := range rep.Tensors {
		if strings.Contains(t.Name, "lora") || modelfile.AdapterKey(t.Name) {
			return true
		}
	}
	return false
}

// controlEscaper writes to w what it is given with every control character
// but newline and tab (ESC, CR, NUL, the C1 controls such as U+009B CSI) and
// every byte that is not UTF-8 escaped as Go does in a quoted string (\x1b,
// \r, \u009b), so that a tensor name or metadata key of a model file cannot
// recolour, move the cursor or clear the terminal. Newlines and tabs pass:
// the report's layout is made of them. Each Write is escaped on its own (a
// rune split across two writes shows as two escaped bytes).
type controlEscaper struct{ w io.Writer }

func (e controlEscaper) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if escapeRune(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return e.w.Write(p)
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", p[i])
		case escapeRune(r, n):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.Write(p[i : i+n])
		}
		i += n
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeRune reports whether controlEscaper escapes rune r, decoded from n
// bytes (a byte that is not UTF-8 decodes as utf8.RuneError of 1 byte).
func escapeRune(r rune, n int) bool {
	return r == utf8.RuneError && n == 1 || r != '\n' && r != '\t' && unicode.IsControl(r)
}

// inspectJSON is one file's object in the output of `wan22 inspect
// --json`, on a line of its own; the objects follow the files' order. It
// says what the text report says, with these keys:
//
//   - type: "report" (a file that cannot be read is an object
//     {"type":"error","message":…,"exit_code":1}, as in i2v --json, and its
//     message is on stderr too)
//   - path: the file as given
//   - format: "GGUF" or "safetensors"; gguf_version: the GGUF version (GGUF only)
//   - file_size: the file's size in bytes
//   - file_kind: "model" (a model kind wan22 knows: model_kind), "lora" (a
//     LoRA wan22 can apply: lora describes it), "adapter" (a LoRA's or an
//     adapter's tensor names, not a LoRA wan22 applies: problems says why
//     when wan22 tried it) or "unknown"
//   - model_kind: "wan_dit", "t5_encoder", "wan_vae" or "unknown"
//   - model: the name of what the file holds, as "WAN i2v DiT (14B)"; a
//     LoRA that wan22 refuses as another model's names that model, in
//     model and architecture alike (otherModelLoRA)
//   - architecture: the architecture line: that name and its dimensions
//   - general_architecture: GGUF only: the general.architecture key's
//     value, "" when the file has none
//   - name_prefix: the prefix of the model's tensor names in the file
//     ("model.diffusion_model."), when there is one
//   - dit, t5, vae: the dimensions detected, for the model kind found only
//   - tensors, tensor_bytes, parameters: the tensor count, the bytes of
//     tensor data and the elements of all tensors
//   - types: per tensor type (ggml's names: F16, Q8_0): type, tensors, bytes
//   - metadata: the GGUF metadata in file order, or the safetensors
//     __metadata__ by key: key, type (GGUF's, as "UINT32" or "ARRAY[3] of
//     INT32"; "string" for safetensors), text (the value as the text report
//     prints it: a string quoted, long values cut after 100 characters) and
//     value (the value itself where text shows it whole and printable: a
//     string, number, boolean or an array of up to 8 of them; absent
//     otherwise)
//   - tensor_list: with -v only: name, type, shape (PyTorch order), bytes
//   - lora: a LoRA wan22 can apply, as its text summary says it (see
//     inspectJSONLoRA)
//   - problems: what the report says is wrong with the file, one
//     sentence each (a LoRA wan22 cannot apply); empty when nothing is
type inspectJSON struct {
	Type        string              `json:"type"`
	Path        string              `json:"path"`
	Format      string              `json:"format"`
	GGUFVersion uint32              `json:"gguf_version,omitempty"`
	FileSize    int64               `json:"file_size"`
	FileKind    string              `json:"file_kind"`
	ModelKind   string              `json:"model_kind"`
	Model       string              `json:"model"`
	Arch        string              `json:"architecture"`
	GGUFArch    *string             `json:"general_architecture,omitempty"`
	NamePrefix  string              `json:"name_prefix,omitempty"`
	DiT         *inspectJSONDiT     `json:"dit,omitempty"`
	T5          *inspectJSONT5      `json:"t5,omitempty"`
	VAE         *inspectJSONVAE     `json:"vae,omitempty"`
	Tensors     int                 `json:"tensors"`
	TensorBytes int64               `json:"tensor_bytes"`
	Params      int64               `json:"parameters"`
	Types       []inspectJSONType   `json:"types"`
	Metadata    []inspectJSONMeta   `json:"metadata"`
	TensorList  []inspectJSONTensor `json:"tensor_list,omitempty"`
	LoRA        *inspectJSONLoRA    `json:"lora,omitempty"`
	Problems    []string            `json:"problems"`
}

// inspectJSONDiT is a WAN DiT's dimensions (modelfile.DiTConfig).
type inspectJSONDiT struct {
	Variant string `json:"variant"` // "i2v", "t2v", "ti2v", "wan2.1-i2v", "wan2.1-flf2v" or "in_dim N"
	Dim     int    `json:"dim"`
	Layers  int    `json:"layers"`
	Heads   int    `json:"heads"`
	FFNDim  int    `json:"ffn_dim"`
	InDim   int    `json:"in_dim"`
	OutDim  int    `json:"out_dim"`
	TextDim int    `json:"text_dim"`
	FreqDim int    `json:"freq_dim"`
	Patch   [3]int `json:"patch"` // t, h, w
}

// inspectJSONT5 is a T5 encoder's dimensions (modelfile.T5Config).
type inspectJSONT5 struct {
	Naming       string `json:"naming"` // "llama.cpp", "Hugging Face" or "Wan"
	Vocab        int    `json:"vocab"`
	Dim          int    `json:"dim"`
	Layers       int    `json:"layers"`
	Heads        int    `json:"heads"`
	AttnDim      int    `json:"attn_dim"`
	FFNDim       int    `json:"ffn_dim"`
	Buckets      int    `json:"position_buckets"`
	PerLayerBias bool   `json:"per_layer_bias"` // umT5
	ScaledFP8    bool   `json:"scaled_fp8"`
	Tokenizer    string `json:"tokenizer"` // where the tokenizer is, "" when the file has none
}

// inspectJSONVAE is a WAN VAE's dimensions (modelfile.VAEConfig).
type inspectJSONVAE struct {
	Version    string `json:"version"` // "2.1", "2.2" or "" (another WAN-style VAE)
	Dim        int    `json:"dim"`
	ZDim       int    `json:"z_dim"`
	InChannels int    `json:"in_channels"`
}

// inspectJSONType is one line of the text report's bytes by type.
type inspectJSONType struct {
	Type    string `json:"type"`
	Tensors int    `json:"tensors"`
	Bytes   int64  `json:"bytes"`
}

// inspectJSONMeta is one metadata entry (see inspectJSON).
type inspectJSONMeta struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Text  string `json:"text"`
	Value any    `json:"value,omitempty"`
}

// inspectJSONTensor is one line of the tensor list (-v).
type inspectJSONTensor struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
}

// inspectJSONLoRA is a LoRA's summary (lora.Summary) as its text says it.
type inspectJSONLoRA struct {
	Name     string    `json:"name"`
	Style    string    `json:"style"`     // the key style, as the text's style line
	Adapters int       `json:"adapters"`  // low-rank adapters
	Deltas   int       `json:"deltas"`    // full-tensor deltas
	StoredAs []string  `json:"stored_as"` // the tensors' types
	Ranks    []int     `json:"ranks"`
	Alphas   []float32 `json:"alphas"`  // empty: no alpha (scale = strength)
	Touches  []string  `json:"touches"` // per module kind, the blocks: "self_attn.q: blocks 0-39"
	// Sizes are the model sizes its shapes say (0: not seen): dim, ffn_dim,
	// in_dim, out_dim, text_dim, freq_dim, and blocks: at least that many.
	Sizes  map[string]int `json:"sizes"`
	Fits   []string       `json:"fits"`   // the known models it fits
	Expert string         `json:"expert"` // "high", "low", or "" when not marked
}

// writeInspectJSON writes rep's object (inspectJSON) on a line of its own.
// verbose adds the tensor list. The error is one of encoding, with nothing
// written.
func writeInspectJSON(w io.Writer, rep *modelfile.Report, verbose bool) error {
	info := rep.Info
	j := inspectJSON{
		Type: "report", Path: rep.Path, Format: rep.Format.String(), FileSize: rep.FileSize,
		FileKind: "unknown", ModelKind: "unknown", Model: info.Name(), Arch: info.Summary(), NamePrefix: info.Prefix,
		Tensors: info.Tensors, TensorBytes: info.Bytes, Params: info.Params,
		Types: []inspectJSONType{}, Metadata: []inspectJSONMeta{}, Problems: []string{},
	}
	if rep.Format == modelfile.FormatGGUF {
		j.GGUFVersion, j.GGUFArch = rep.GGUFVersion, &rep.GGUFArch
	}
	switch info.Kind {
	case modelfile.KindWanDiT:
		c := info.DiT
		j.FileKind, j.ModelKind = "model", "wan_dit"
		j.DiT = &inspectJSONDiT{c.Variant, c.Dim, c.Layers, c.Heads, c.FFNDim, c.InDim, c.OutDim, c.TextDim, c.FreqDim, c.Patch}
	case modelfile.KindT5:
		c := info.T5
		j.FileKind, j.ModelKind = "model", "t5_encoder"
		j.T5 = &inspectJSONT5{c.Naming, c.Vocab, c.Dim, c.Layers, c.Heads, c.AttnDim, c.FFNDim, c.Buckets, c.PerLayerBias, c.ScaledFP8, c.Tokenizer}
	case modelfile.KindWanVAE:
		c := info.VAE
		j.FileKind, j.ModelKind = "model", "wan_vae"
		j.VAE = &inspectJSONVAE{c.Version, c.Dim, c.ZDim, c.InChans}
	}
	sum, notApplied := inspectLoRA(rep.Path, rep)
	switch {
	case sum != nil:
		j.FileKind = "lora"
		d := sum.Dims
		j.LoRA = &inspectJSONLoRA{
			Name: sum.Name, Style: sum.Style.String(), Adapters: sum.Adapters, Deltas: sum.Diffs,
			StoredAs: nonNil(sum.Types), Ranks: nonNil(sum.Ranks), Alphas: nonNil(sum.Alphas), Touches: nonNil(sum.Layers),
			Sizes: map[string]int{"dim": d.Dim, "ffn_dim": d.FFNDim, "in_dim": d.InDim, "out_dim": d.OutDim, "text_dim": d.TextDim, "freq_dim": d.FreqDim, "blocks": d.Blocks},
			Fits:  nonNil(sum.Fits), Expert: sum.Expert,
		}
	case notApplied != nil || info.Adapter:
		j.FileKind = "adapter"
		if arch := otherModelLoRA(notApplied); arch != "" {
			j.Model, j.Arch = arch, arch
		}
	}
	if notApplied != nil {
		j.Problems = append(j.Problems, loraProblem(rep.Path, notApplied))
	}
	for _, tt := range info.Types {
		j.Types = append(j.Types, inspectJSONType{tt.Type.String(), tt.Count, tt.Bytes})
	}
	for _, m := range rep.Metadata {
		j.Metadata = append(j.Metadata, inspectJSONMeta{Key: m.Key, Type: m.Type, Text: m.Value, Value: metadataValue(m)})
	}
	if verbose {
		j.TensorList = []inspectJSONTensor{}
		for _, ti := range rep.Tensors {
			j.TensorList = append(j.TensorList, inspectJSONTensor{ti.Name, ti.Type.String(), nonNil(ti.Shape), ti.Size})
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // one line, ended by a newline
	enc.SetEscapeHTML(false)   // "<pad>" in a tokenizer's text, not "\u003cpad\u003e"
	if err := enc.Encode(j); err != nil {
		return fmt.Errorf("%s: the report cannot be written as JSON: %w", rep.Path, err)
	}
	w.Write(b.Bytes()) // its error is the caller's writeCheck's
	return nil
}

// nonNil is s, or an empty slice for nil, so that JSON says [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// metadataValue is metadata entry m's value for --json: the value itself
// where the text report shows it whole and printable, else nil. A string
// is the text unquoted (strconv.Quote's), when it is not cut and is UTF-8;
// a number, a boolean or an array shown whole is its text when that is
// JSON (gguf prints them as JSON writes them; NaN, an infinity, a cut or
// an escape JSON has not, as \x00, are not).
func metadataValue(m modelfile.MetaEntry) any {
	if m.Type == "string" || m.Type == gguf.ValueString.String() {
		s, err := strconv.Unquote(m.Value)
		if err != nil || !utf8.ValidString(s) {
			return nil
		}
		return s
	}
	if json.Valid([]byte(m.Value)) {
		return json.RawMessage(m.Value)
	}
	return nil
}

// jsonControlEscaper writes JSON text to w with the control characters
// that encoding/json leaves raw inside strings (DEL, the C1 controls such
// as U+009B CSI; it escapes those below U+0020) as \u escapes, so that the
// text stays the same JSON and no control character reaches a terminal.
type jsonControlEscaper struct{ w io.Writer }

func (e jsonControlEscaper) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, r := range string(p) {
		if r != '\n' && unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
		} else {
			b.WriteRune(r)
		}
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
