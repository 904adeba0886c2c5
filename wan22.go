// Package wan22 generates videos from an image and a prompt with WAN 2.2
// image-to-video (I2V-A14B): it opens the models and runs the generation.
// A program that reads its image from a file and writes the video to one
// also imports engine/imageprep (Load: a PNG, JPEG or WebP, turned
// upright) and engine/video (Create: an .avi or .mp4 writer), as below; one
// that has an image.Image and takes the frames through Output.Frame needs
// wan22 alone.
//
//	p, err := wan22.Open(ctx, wan22.Models{High: "high.gguf", Low: "low.gguf",
//		TextEncoder: "umt5.gguf", VAE: "vae.safetensors"}, wan22.Options{})
//	if err != nil { ... }
//	defer p.Close()
//	img, err := imageprep.Load("cat.png")
//	req := wan22.Request{Image: img, Prompt: "a cat surfing"}
//	s, err := p.Resolve(req) // the video's size and frame rate
//	w, err := video.Create(ctx, "cat.mp4",
//		video.Options{Width: s.Width, Height: s.Height, FPS: s.FPS})
//	err = p.Generate(ctx, req, wan22.Output{Video: w})
//	err = w.Close() // completes the file (w.Abort on failure)
//
// Open checks the model files (their kinds and that they fit together)
// before anything is loaded and opens the compute backend: the GPU when the
// binary is built with -tags cuda and one is present, else the CPU. Generate
// fills in the official defaults for every zero field of the request (40
// steps, shift 5, guidance 3.5/3.5, expert boundary 0.9, UniPC, 81 frames at
// 16 fps, max area 1280×720), checks the request and its memory estimate
// against the budget, and then runs the stages one model at a time,
// reporting progress and stopping when the context is cancelled.
//
// Options.Attention opts in to 8-bit attention on the GPU (AttentionINT8,
// AttentionFP8: slightly less accurate, and faster only on GPUs without
// wgmma, not on Hopper); the default is bf16.
//
// Request.LoRAs attaches LoRA files at run time, per expert, each checked
// against its expert before any model loads; Solver DistillSolver with
// guidance 1 runs the few-step schedules of the step-distillation LoRAs.
package wan22

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/internal/safetext"
)

// Models names the four model files of WAN 2.2 I2V-A14B, GGUF or
// safetensors.
type Models struct {
	High        string // the high-noise DiT expert (i2v)
	Low         string // the low-noise DiT expert (i2v)
	TextEncoder string // the umT5-XXL encoder, with its tokenizer embedded
	VAE         string // the WAN 2.1 VAE
}

// Devices Open accepts.
const (
	DeviceAuto = "auto" // CUDA when the binary has it and a GPU is present, else the CPU
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// Options configures Open. The zero value runs on the GPU when there is one
// and on the CPU otherwise, with all free memory.
type Options struct {
	// Device is "auto" (or ""), "cpu" or "cuda" (a binary built with -tags cuda).
	Device string
	// VRAMBudget caps the device memory in bytes (0: all free device memory),
	// e.g. 32 GiB to run as on an RTX 5090.
	VRAMBudget int64
	// PinnedBudget caps the pinned host memory for block swapping in bytes
	// (0: half of physical memory; negative: no pinned memory).
	PinnedBudget int64
	// HostBudget caps the host memory a generation may use, for the memory
	// estimate (0: the memory available now).
	HostBudget int64
	// TextEncoderBF16 runs the text encoder with bf16 GEMMs on the GPU
	// instead of the default f32-accurate ones (faster, less accurate).
	TextEncoderBF16 bool
	// Attention is the arithmetic of the DiT's attention on the GPU:
	// AttentionBF16, or the opt-in 8-bit modes AttentionINT8 and
	// AttentionFP8 (slightly less accurate; faster only on GPUs without
	// wgmma, not on Hopper, whose bf16 kernel is faster: Log gets a warning
	// when one is chosen there). "" is the backend's default: bf16, unless
	// the environment variable WAN22_ATTN names int8 or fp8
	// (Pipeline.Attention says which runs). The commands (wan22 i2v, demo,
	// bench) always pass their --attention, bf16 by default, so WAN22_ATTN's
	// int8 and fp8 do not change what they run. The 8-bit modes apply to
	// the self-attention: key sequences of at most 2048 keys (the
	// cross-attention) run bf16, where 8 bits would be slower. They need the
	// CUDA backend: Open refuses them on the CPU, whose attention always
	// computes in f32.
	Attention AttentionPrecision
	// Log receives the pipeline's log lines; nil discards them. Its
	// warnings are for the user (expert or LoRA files whose names contradict
	// their roles, a LoRA for an expert the schedule gives no step, a prompt
	// longer than the 512 tokens umT5 reads, …).
	Log *slog.Logger
	// AllowSameExpert lets one file serve as both experts. It is for
	// benchmarks (wan22 bench times a synthetic expert in both roles, which
	// does the same work and saves a 15–29 GB file); otherwise naming one
	// file twice is a mistake, and Open refuses it.
	AllowSameExpert bool
}

// ModelError is a model file that cannot be used in its role. Its message
// names the file by its path as it is, or Go-quoted when the path holds a
// control character, bytes that are not UTF-8 or an invisible character
// that deceives (safetext.Path, as engine/modelfile names it), and an
// empty path as ""; Path holds it as given.
type ModelError struct {
	Role string // "high-noise expert", "low-noise expert", "text encoder", "VAE"
	Path string
	Msg  string // what is wrong and what to do
	Err  error  // the underlying error, if any
}

// Error names the path once: an underlying error that starts with the same
// path, as engine/modelfile's do ("P: no such file or directory", "P is a
// directory, …"), is printed without it ("no such file or directory", "it
// is a directory, …").
func (e *ModelError) Error() string {
	path := safetext.Path(e.Path)
	if path == "" {
		path = `""` // no file given
	}
	s := fmt.Sprintf("%s %s: %s", e.Role, path, e.Msg)
	if e.Err != nil {
		s += ": " + causeAfter(e.Err.Error(), path)
	}
	return s
}

// causeAfter is msg without its leading path, as printed: "P: CAUSE"
// becomes "CAUSE" and "P is …" "it is …"; msg as it is when it starts
// otherwise.
func causeAfter(msg, path string) string {
	if rest, ok := strings.CutPrefix(msg, path+": "); ok && rest != "" {
		return rest
	}
	if rest, ok := strings.CutPrefix(msg, path+" is "); ok {
		return "it is " + rest
	}
	return msg
}

func (e *ModelError) Unwrap() error { return e.Err }

// Pipeline is an opened set of models on a device. Models are loaded by
// Generate one stage at a time, so an open Pipeline holds no model memory:
// Generate releases each model after its stage, and before it returns gives
// the memory of the run back to the system (debug.FreeOSMemory).
//
// A Pipeline is safe for concurrent use by several goroutines (a GUI, a web
// service's handlers): its methods may be called at any time, and
// Generates run one at a time, in turn (each run needs the device and the
// memory budget to itself): a Generate called while another runs checks
// its request at once (one that cannot run is refused without waiting),
// then waits for it to return, or for its own context to end, or for
// Close. Close stops a running Generate without waiting for it (it may be
// called from one of the run's callbacks), and the device is released when
// that Generate returns.
type Pipeline struct {
	models Models
	o      Options
	dit    modelfile.DiTConfig // both experts' configuration
	t5     modelfile.T5Config
	vae    modelfile.VAEConfig
	bytes  struct{ high, low, t5, vae int64 }

	b         engine.Backend
	stage     func(pipeline.Stage) engine.Backend // per-stage views, or nil
	close     func() error
	device    string
	attention AttentionPrecision // Options.Attention, checked

	// One Generate runs at a time, and Close stops it. running holds a
	// token while a Generate runs, and for good once Close has released the
	// device (or left that to the running Generate, which then keeps it).
	mu      sync.Mutex // guards closed, and the release of the device
	closed  bool
	running chan struct{}           // capacity 1
	stopRun context.CancelCauseFunc // cancels the running Generate's context; nil when none runs
	life    context.Context         // done once Close is called: wakes the waiting Generates
	end     context.CancelFunc      // cancels life

	warnMu     sync.Mutex
	warned     map[string]bool // the LoRA warnings logged (warnOnce), by message and files
	warnedKeys []string        // warned's keys, oldest first; at most warnOnceKeys
}

// AttentionPrecision is the arithmetic of the DiT's attention on the GPU;
// see the constants.
type AttentionPrecision = engine.AttentionPrecision

// The attention precisions Options.Attention accepts.
const (
	// AttentionBF16, the default: bf16 operands, f32 accumulation.
	AttentionBF16 = engine.AttentionBF16
	// AttentionINT8: Q·Kᵀ and P·V in INT8 with per-block scales (the
	// SageAttention recipe); any CUDA GPU wan22 runs on. Opt-in: slightly
	// less accurate, faster only where there is no wgmma bf16 kernel.
	AttentionINT8 = engine.AttentionINT8
	// AttentionFP8: Q·Kᵀ in INT8, P·V in FP8 where the GPU has FP8 tensor
	// cores (sm_89 and newer), else as AttentionINT8. Opt-in: less accurate
	// than AttentionINT8 (about 2.7e-2 relative), faster only where there is
	// no wgmma bf16 kernel.
	AttentionFP8 = engine.AttentionFP8
)

// ParseAttentionPrecision reads "bf16", "int8" or "fp8" (any case; "" is
// bf16), as the --attention flag takes it.
func ParseAttentionPrecision(s string) (AttentionPrecision, error) {
	return engine.ParseAttentionPrecision(s)
}

// AttentionError is an attention precision the opened device cannot run.
type AttentionError struct {
	Precision AttentionPrecision
	Device    string // the device the pipeline would run on: "cpu" or "cuda"
	Msg       string // what is wrong and what to do
	Err       error  // the underlying error, if any
}

func (e *AttentionError) Error() string {
	s := fmt.Sprintf("wan22: %s attention on %s: %s", e.Precision, e.Device, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *AttentionError) Unwrap() error { return e.Err }

// Errors of misusing a Pipeline.
var (
	// ErrNilContext: Open or Generate was given a nil context. As the
	// context package asks, pass context.Background() (or context.TODO())
	// rather than nil; the error names the function.
	ErrNilContext = errors.New("wan22: nil context")
	// ErrClosed: Resolve or Generate on a Pipeline after Close; a Generate
	// that Close stopped, or kept from starting, returns it (errors.Is).
	ErrClosed = errors.New("wan22: the Pipeline is closed: Open a new one")
	// ErrNilPipeline: a method called on a nil *Pipeline (the result of a
	// failed Open).
	ErrNilPipeline = errors.New("wan22: nil *Pipeline (did Open fail?)")
	// ErrNotOpened: a method called on a Pipeline that Open did not make (a
	// zero value, e.g. a struct field of type Pipeline): it has no models
	// and no device. Keep the *Pipeline Open returns instead.
	ErrNotOpened = errors.New("wan22: the Pipeline was not made by Open (a zero Pipeline has no models): use the *Pipeline Open returns")
)

// ErrNoCUDA is the error of Options.Device "cuda" in a binary built without
// CUDA (build it with -tags cuda; cuda.Available in engine/cuda tells
// before Open), wrapped in an *OptionsError, and the reason an
// *AttentionError gives for an 8-bit mode with no GPU to run it.
var ErrNoCUDA = errors.New("wan22: this binary was built without CUDA")

// noCUDA is ErrNoCUDA in words that follow another message (as an
// AttentionError's reason): it matches it (errors.Is) without its prefix.
type noCUDA string

func (e noCUDA) Error() string      { return string(e) }
func (noCUDA) Is(target error) bool { return target == ErrNoCUDA }

// OptionsError is an Options field that Open cannot take: Field names it
// ("Device", "VRAMBudget", "HostBudget" or "Attention") and Err says why
// (ErrNoCUDA for the cuda device in a binary without CUDA). An attention
// precision that the device cannot run is an *AttentionError instead, and a
// GPU that fails to open is the backend's error.
type OptionsError struct {
	Field string
	Err   error
}

func (e *OptionsError) Error() string { return refusal(e.Err, e.Field, "the options are refused") }

// refusal is the message of a *RequestError or *OptionsError: its Err's, or,
// for one a caller made without an Err, the field's, or whole when it names
// none.
func refusal(err error, field, whole string) string {
	switch {
	case err != nil:
		return err.Error()
	case field == "":
		return "wan22: " + whole
	}
	return "wan22: " + field + " is refused"
}

func (e *OptionsError) Unwrap() error { return e.Err }

// nilContext is the error of a nil context given to function fn.
func nilContext(fn string) error {
	return fmt.Errorf("%w given to %s: pass context.Background() or a context you cancel", ErrNilContext, fn)
}

// Open checks the model files and opens the device. Nothing is loaded yet.
// A nil ctx is an error (ErrNilContext). A model file that cannot serve its
// role is a *ModelError, an option Open cannot take an *OptionsError, and
// an attention precision the device cannot run an *AttentionError.
func Open(ctx context.Context, m Models, o Options) (*Pipeline, error) {
	if ctx == nil {
		return nil, nilContext("Open")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &Pipeline{models: m, o: o, running: make(chan struct{}, 1)}
	p.life, p.end = context.WithCancel(context.Background())
	if err := p.checkModels(); err != nil {
		return nil, err
	}
	if err := p.openDevice(); err != nil {
		return nil, err
	}
	return p, nil
}

// detect opens path and detects its model kind.
func detect(role, path string) (modelfile.Info, error) {
	if path == "" {
		return modelfile.Info{}, &ModelError{Role: role, Path: "", Msg: "no file given"}
	}
	src, _, err := modelfile.Open(path)
	if err != nil {
		return modelfile.Info{}, &ModelError{Role: role, Path: path, Msg: "cannot be read", Err: err}
	}
	defer src.Close()
	return modelfile.Detect(src), nil
}

// checkModels detects every file's kind and checks that they fit together.
func (p *Pipeline) checkModels() error {
	m := p.models
	wrong := func(role, path string, info modelfile.Info, want string) error {
		msg := fmt.Sprintf("is a %s, not %s", info.Name(), want)
		if a := info.Advice(); a != "" {
			msg += ": " + a
		}
		return &ModelError{Role: role, Path: path, Msg: msg}
	}
	var experts [2]*modelfile.DiTConfig
	for i, e := range []struct{ role, path string }{{"high-noise expert", m.High}, {"low-noise expert", m.Low}} {
		info, err := detect(e.role, e.path)
		if err != nil {
			return err
		}
		if info.Kind != modelfile.KindWanDiT {
			return wrong(e.role, e.path, info, "a WAN 2.2 i2v DiT expert")
		}
		if info.DiT.Variant != "i2v" {
			return &ModelError{Role: e.role, Path: e.path, Msg: fmt.Sprintf("is a %s, not an i2v expert: image-to-video needs the I2V-A14B experts (input width 36)", info.Name())}
		}
		experts[i] = info.DiT
		if i == 0 {
			p.bytes.high = info.Bytes
		} else {
			p.bytes.low = info.Bytes
		}
	}
	if same(m.High, m.Low) && !p.o.AllowSameExpert {
		return &ModelError{Role: "low-noise expert", Path: m.Low, Msg: "is the same file as the high-noise expert: give the low-noise expert's file"}
	}
	if err := p.checkExpertContent(); err != nil {
		return err
	}
	p.warnExpertNames()
	if d := shapeDiff(*experts[1], *experts[0]); d != "" {
		return &ModelError{Role: "low-noise expert", Path: m.Low, Msg: fmt.Sprintf("has another shape than the high-noise expert: %s: both must be from one model", d)}
	}
	p.dit = *experts[0]

	info, err := detect("text encoder", m.TextEncoder)
	if err != nil {
		return err
	}
	if info.Kind != modelfile.KindT5 {
		return wrong("text encoder", m.TextEncoder, info, "a umT5 text encoder")
	}
	if info.T5.Tokenizer == "" {
		return &ModelError{Role: "text encoder", Path: m.TextEncoder, Msg: "embeds no tokenizer: use a umT5 GGUF with tokenizer.ggml.* metadata (city96's umt5-xxl-encoder GGUF files have it) or a ComfyUI umT5 safetensors with its spiece_model tensor"}
	}
	if info.T5.Dim != p.dit.TextDim {
		return &ModelError{Role: "text encoder", Path: m.TextEncoder, Msg: fmt.Sprintf("has width %d but the experts read text of width %d: they are not from one model", info.T5.Dim, p.dit.TextDim)}
	}
	p.t5, p.bytes.t5 = *info.T5, info.Bytes

	info, err = detect("VAE", m.VAE)
	if err != nil {
		return err
	}
	if info.Kind != modelfile.KindWanVAE {
		return wrong("VAE", m.VAE, info, "a WAN 2.1 VAE")
	}
	if info.VAE.Version != "2.1" || info.VAE.ZDim != pipeline.LatentChannels {
		return &ModelError{Role: "VAE", Path: m.VAE, Msg: fmt.Sprintf("is a WAN %s VAE with %d latent channels; the A14B experts need the WAN 2.1 VAE (16)", info.VAE.Version, info.VAE.ZDim)}
	}
	p.vae, p.bytes.vae = *info.VAE, info.Bytes
	// The experts denoise the VAE's latent: they must output its channels.
	// (Their input, noise + mask + image latent = 16 + 4 + 16, is pinned by
	// the i2v check above: in_dim 36.)
	if p.dit.OutDim != p.vae.ZDim {
		return &ModelError{Role: "high-noise expert", Path: m.High, Msg: fmt.Sprintf("outputs %d latent channels (as does the low-noise expert) but the VAE %s has %d (its z_dim): these experts are not WAN 2.2 I2V-A14B ones, which output the %d channels of the WAN 2.1 VAE", p.dit.OutDim, safetext.Path(m.VAE), p.vae.ZDim, pipeline.LatentChannels)}
	}
	return nil
}

// shapeDiff lists the fields in which expert configuration a differs from
// b, as "out-channels 8, not 16; text width 128, not 64", or "" when they
// are the same.
func shapeDiff(a, b modelfile.DiTConfig) string {
	var d []string
	add := func(differs bool, format string, va, vb any) {
		if differs {
			d = append(d, fmt.Sprintf(format, va, vb))
		}
	}
	add(a.Variant != b.Variant, "variant %s, not %s", a.Variant, b.Variant)
	add(a.Layers != b.Layers, "%d layers, not %d", a.Layers, b.Layers)
	add(a.Dim != b.Dim, "width %d, not %d", a.Dim, b.Dim)
	add(a.Heads != b.Heads, "%d heads, not %d", a.Heads, b.Heads)
	add(a.FFNDim != b.FFNDim, "FFN width %d, not %d", a.FFNDim, b.FFNDim)
	add(a.InDim != b.InDim, "in-channels %d, not %d", a.InDim, b.InDim)
	add(a.OutDim != b.OutDim, "out-channels %d, not %d", a.OutDim, b.OutDim)
	add(a.TextDim != b.TextDim, "text width %d, not %d", a.TextDim, b.TextDim)
	add(a.FreqDim != b.FreqDim, "time-embedding width %d, not %d", a.FreqDim, b.FreqDim)
	add(a.Patch != b.Patch, "patch %v, not %v", a.Patch, b.Patch)
	return strings.Join(d, "; ")
}

// same reports whether two paths name one file.
func same(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// openDevice opens the backend Options.Device names.
func (p *Pipeline) openDevice() error {
	o := p.o
	for _, v := range []struct {
		field, name string
		n           int64
	}{{"VRAMBudget", "VRAM budget", o.VRAMBudget}, {"HostBudget", "host budget", o.HostBudget}} {
		if v.n < 0 {
			return &OptionsError{Field: v.field, Err: fmt.Errorf("wan22: the %s must not be negative, got %d", v.name, v.n)}
		}
	}
	att, err := ParseAttentionPrecision(string(o.Attention))
	if err != nil {
		return &OptionsError{Field: "Attention", Err: fmt.Errorf("wan22: %w", err)}
	}
	p.attention = att
	device := strings.ToLower(o.Device)
	switch device {
	case "", DeviceAuto:
		var why error = noCUDA("this binary was built without CUDA (build it with `make cuda`)")
		if cuda.Available() {
			if why = p.openCUDA(); why == nil {
				return nil
			}
		}
		if att != AttentionBF16 {
			// Asked for a GPU mode: say why there is no GPU rather than run
			// something else.
			return &AttentionError{Precision: att, Device: DeviceCPU, Msg: "8-bit attention needs the CUDA backend, and no usable GPU was found; choose bf16 attention (the default) to run on the CPU", Err: why}
		}
		if o.Log != nil && cuda.Available() {
			o.Log.Info("no usable GPU, running on the CPU", "reason", why)
		}
		p.openCPU()
		return nil
	case DeviceCPU:
		if att != AttentionBF16 {
			return &AttentionError{Precision: att, Device: DeviceCPU, Msg: "8-bit attention needs the CUDA backend; the CPU computes attention in f32: choose bf16 attention (the default) or the cuda device"}
		}
		p.openCPU()
		return nil
	case DeviceCUDA:
		if !cuda.Available() {
			return &OptionsError{Field: "Device", Err: fmt.Errorf("%w: build it with `make cuda` (go build -tags cuda), or use the CPU", ErrNoCUDA)}
		}
		return p.openCUDA()
	}
	return &OptionsError{Field: "Device", Err: fmt.Errorf("wan22: unknown device %q: use cpu, cuda or auto", o.Device)}
}

func (p *Pipeline) openCPU() {
	p.b, p.device, p.close = cpu.New(), DeviceCPU, func() error { return nil }
}

func (p *Pipeline) openCUDA() error {
	o := p.o
	cb, err := cuda.NewBackend(cudaConfig(o))
	if err != nil {
		named, _ := optionsErr(err)
		return fmt.Errorf("wan22: opening the GPU: %w", named)
	}
	if p.o.Attention == "" {
		// Not asked for: the backend's own setting (bf16, or WAN22_ATTN) runs; report it.
		if g, ok := any(cb).(interface {
			AttentionPrecision() engine.AttentionPrecision
		}); ok {
			p.attention = g.AttentionPrecision()
		}
	} else if err := setAttention(cb, p.attention); err != nil {
		cb.Close()
		return err
	}
	type precise interface {
		WithPrecision(cuda.Precision) *cuda.Backend
	}
	// Each stage's allocations carry the stage's name as owner, so that a
	// model is accounted, and can be freed, on its own.
	p.b, p.device, p.close = cudaBackend{Backend: cb, log: o.Log}, DeviceCUDA, cb.Close
	p.stage = func(s pipeline.Stage) engine.Backend {
		v := cb.ForModel(s.String())
		if pr, ok := any(v).(precise); ok && s == pipeline.TextEncode && !o.TextEncoderBF16 {
			v = pr.WithPrecision(cuda.PrecisionF32)
		}
		return v
	}
	return nil
}

// cudaConfig is the CUDA backend's configuration of options o. Its log is
// o.Log with the backend's names of settings turned into the Options
// fields a library user sets (optionsLog).
func cudaConfig(o Options) cuda.Config {
	return cuda.Config{MemCap: o.VRAMBudget, PinnedCap: o.PinnedBudget, Logger: optionsLog(o.Log)}
}

// optionNames turns the names the CUDA backend gives its settings in its
// log lines and errors into the Options fields that set them: a refused
// pin's warning says to raise Config.PinnedCap (engine/cuda's PinError),
// which a library user sets as Options.PinnedBudget, and a device
// allocation that the driver refuses while the budget allowed it (other
// processes took the memory since Open) says to lower Config.MemCap,
// Options.VRAMBudget, or raise Config.Reserve, the memory left outside the
// budget, which Options does not set: the user stops the other processes,
// or gives a budget below what they leave free.
var optionNames = strings.NewReplacer(
	"Config.PinnedCap", "Options.PinnedBudget",
	"lower Config.MemCap or raise Config.Reserve",
	"stop them, or set Options.VRAMBudget below what they leave free (0, the default, takes what was free at Open less 512 MiB)",
	"Config.MemCap", "Options.VRAMBudget",
)

// optionsLog is log for the CUDA backend: its messages, and its attributes'
// strings and errors, name the Options fields (optionNames). nil stays nil.
func optionsLog(log *slog.Logger) *slog.Logger {
	if log == nil {
		return nil
	}
	return slog.New(optionsHandler{log.Handler()})
}

// optionsHandler is a slog.Handler that renames settings (optionNames) in
// what it passes on to h.
type optionsHandler struct{ h slog.Handler }

func (o optionsHandler) Enabled(ctx context.Context, l slog.Level) bool { return o.h.Enabled(ctx, l) }

func (o optionsHandler) Handle(ctx context.Context, r slog.Record) error {
	n := slog.NewRecord(r.Time, r.Level, optionNames.Replace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		n.AddAttrs(optionsAttr(a))
		return true
	})
	return o.h.Handle(ctx, n)
}

func (o optionsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return optionsHandler{o.h.WithAttrs(optionsAttrs(as))}
}

func (o optionsHandler) WithGroup(name string) slog.Handler {
	return optionsHandler{o.h.WithGroup(name)}
}

// optionsAttr is a with the settings renamed (optionNames) in its string,
// or in its error's message (the error stays reachable: optionsError
// unwraps to it), or in the attributes of its group.
func optionsAttr(a slog.Attr) slog.Attr {
	switch v := a.Value.Resolve(); v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, optionNames.Replace(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(optionsAttrs(v.Group())...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			if named, ok := optionsErr(err); ok {
				return slog.Any(a.Key, named)
			}
		}
	}
	return a
}

// optionsAttrs is as with the settings renamed (optionsAttr), in a new slice.
func optionsAttrs(as []slog.Attr) []slog.Attr {
	renamed := make([]slog.Attr, len(as))
	for i, a := range as {
		renamed[i] = optionsAttr(a)
	}
	return renamed
}

// optionsErr is err, an error of the CUDA backend, with its message naming
// the Options fields (optionNames), and true, when it names a setting the
// backend's way; else err and false. nil stays nil.
func optionsErr(err error) (error, bool) {
	if err == nil || optionNames.Replace(err.Error()) == err.Error() {
		return err, false
	}
	return optionsError{err}, true
}

// optionsError is an error of the CUDA backend whose message names the
// Options fields (optionNames).
type optionsError struct{ err error }

func (e optionsError) Error() string { return optionNames.Replace(e.err.Error()) }
func (e optionsError) Unwrap() error { return e.err }

// setAttention sets the attention precision of backend b, which all its
// per-stage views share. A backend without the setter runs only bf16.
func setAttention(b any, att AttentionPrecision) error {
	s, ok := b.(engine.AttentionPrecisionSetter)
	if !ok {
		if att == AttentionBF16 {
			return nil
		}
		return &AttentionError{Precision: att, Device: DeviceCUDA, Msg: "this build's CUDA backend has no 8-bit attention; choose bf16 attention (the default)"}
	}
	if err := s.SetAttentionPrecision(att); err != nil {
		return &AttentionError{Precision: att, Device: DeviceCUDA, Msg: "the GPU cannot run it; choose bf16 attention (the default)", Err: err}
	}
	return nil
}

// cudaBackend is the CUDA backend as the pipeline's main backend: it
// reports the device peaks for progress events and, after each stage, frees
// the stage's memory and checks the device is back to its baseline.
type cudaBackend struct {
	*cuda.Backend
	log *slog.Logger
}

// PeakMemory reports the device and pinned host memory peaks.
func (c cudaBackend) PeakMemory() (vram, pinned int64) {
	return c.MemStats().Peak, c.PinnedStats().Peak
}

// Released returns every device and pinned byte of stage s (its weights,
// slots and slabs, the activation cache, scratch and staging buffers) and
// checks with cuMemGetInfo that the device's free memory is back to what it
// was when the pipeline opened: the expert switch frees everything.
func (c cudaBackend) Released(s pipeline.Stage) error {
	rep, err := c.ReleaseModel(s.String())
	if c.log != nil {
		c.log.Debug("stage released", "stage", s.String(), "freed", gib(rep.Freed),
			"device_free_at_open", gib(rep.FreeBefore), "device_free_now", gib(rep.FreeAfter), "pinned_held", gib(rep.Pinned))
	}
	return err
}

// Device is the device the pipeline runs on: "cpu" or "cuda" ("" for a
// nil Pipeline).
func (p *Pipeline) Device() string {
	if p == nil {
		return ""
	}
	return p.device
}

// Attention is the attention precision the pipeline was opened with:
// Options.Attention, or when not given the backend's default, AttentionBF16
// (on the GPU, the precision WAN22_ATTN names when it names one). The CPU
// computes attention in f32 whatever it is; Settings.Attention says what
// runs. It is "" for a nil Pipeline.
func (p *Pipeline) Attention() AttentionPrecision {
	if p == nil {
		return ""
	}
	return p.attention
}

// attentionRuns says how attention is computed: "bf16", "int8", "fp8", or
// "f32" on the CPU.
func (p *Pipeline) attentionRuns() string {
	if p.device == DeviceCPU {
		return "f32"
	}
	return string(p.attention)
}

// Backend names the backend ("cpu", "cuda:0 NVIDIA H100 …"; "" for a nil
// Pipeline). After Close it still names the backend that was closed.
func (p *Pipeline) Backend() string {
	if p == nil || p.b == nil {
		return ""
	}
	return p.b.Name()
}

// Close releases the device. The Pipeline cannot be used afterwards:
// Resolve and Generate return ErrClosed. Close during a Generate stops the
// run at its next check (within one DiT block, one prompt or one frame
// group; that Generate returns an error wrapping ErrClosed) and returns at
// once, without waiting for it, so that a callback of the run may call it:
// the device is released when that Generate returns (wait for it before
// opening another Pipeline on the same GPU). A Generate waiting for its turn
// returns ErrClosed. Closing it again does nothing and returns nil; closing
// a nil *Pipeline returns ErrNilPipeline (as os.File's Close of a nil file
// returns an error), and a zero Pipeline ErrNotOpened.
func (p *Pipeline) Close() error {
	if p == nil {
		return ErrNilPipeline
	}
	if p.close == nil {
		return ErrNotOpened
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.end() // wakes the waiting Generates
	if p.stopRun != nil {
		p.stopRun(ErrClosed) // at once: the run starts no further output call (one under way finishes)
	}
	select {
	case p.running <- struct{}{}:
		// None runs: release the device now, and keep the token, so that none will.
		return p.close()
	default:
		return nil // the running Generate releases the device when it returns (finish)
	}
}

// begin waits for the turn of a Generate: until no other runs (it then
// holds the token), ctx ends, or the Pipeline is closed. It returns the
// run's context, which ends with ctx or when Close is called (its cause is
// then ErrClosed), and its cancel function.
func (p *Pipeline) begin(ctx context.Context) (context.Context, context.CancelCauseFunc, error) {
	select {
	case p.running <- struct{}{}: // none runs
	default:
		select {
		case p.running <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("wan22: waiting for the running Generate: %w", ctx.Err())
		case <-p.life.Done():
			return nil, nil, ErrClosed
		}
	}
	run, stop := context.WithCancelCause(ctx)
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.stopRun = stop
	}
	p.mu.Unlock()
	if closed {
		// Close came as the turn did, and left the release to this run.
		stop(ErrClosed)
		if err := p.finish(); err != nil {
			return nil, nil, errors.Join(ErrClosed, err)
		}
		return nil, nil, ErrClosed
	}
	return run, stop, nil
}

// finish ends the turn of a Generate that begin started: it gives the token
// back, or, when Close was called meanwhile, releases the device in Close's
// stead (and keeps the token).
func (p *Pipeline) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopRun = nil
	if p.closed {
		if err := p.close(); err != nil {
			return fmt.Errorf("wan22: releasing the device after Close: %w", err)
		}
		return nil
	}
	<-p.running
	return nil
}

// gib formats bytes as GiB for messages.
func gib(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

// finite reports whether v is a finite number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
