package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/scheduler"
)

// runDemo runs the whole image-to-video pipeline on tiny models: the tiny
// umT5 encoder and WAN 2.1 VAE of the reference set, and two tiny DiT experts
// with random weights written on the spot (high-noise in Q8_0, low-noise in
// Q4_K). The output is noise-like — the weights are random — but every stage
// is the real one: conditioning encode, prompt encode, the two-expert UniPC
// loop with CFG and the expert switch, and the streaming decode.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "wan22 demo [flags]",
		"Runs image-to-video end to end on tiny models (the reference tiny umT5 and VAE,\nand two random tiny DiT experts) and writes the frames as PNG files.", stderr)
	models := fs.String("models", golden.Find(), "folder holding t5_tiny_f32.gguf and vae_tiny.safetensors")
	out := fs.String("out", "demo-out", "folder to write the frames into (PNG); must not exist yet")
	prompt := fs.String("prompt", "A cat surfing a wave at sunset, cinematic lighting", "prompt")
	steps := fs.Int("steps", 8, "sampling steps")
	frames := fs.Int("frames", 9, "frames (4k+1)")
	width := fs.Int("width", 96, "width (multiple of 16)")
	height := fs.Int("height", 64, "height (multiple of 16)")
	seed := fs.Uint64("seed", 42, "noise seed")
	backend := fs.String("backend", "cpu", "compute backend: cpu, or cuda in a binary built with -tags cuda")
	vram := fs.Float64("vram", 0, "GPU memory budget in GiB for -backend cuda (0: all free memory; 32 emulates an RTX 5090)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if err := demo(*models, *out, *prompt, *steps, *frames, *width, *height, *seed, *backend, *vram, stdout); err != nil {
		fmt.Fprintln(stderr, "wan22 demo:", err)
		return 1
	}
	return 0
}

func demo(models, out, prompt string, steps, frames, width, height int, seed uint64, backend string, vram float64, stdout io.Writer) error {
	if models == "" {
		return errors.New("the tiny models were not found: pass -models with the folder holding t5_tiny_f32.gguf and vae_tiny.safetensors (../shared/golden)")
	}
	// Check the options before writing or allocating anything.
	o := pipeline.Options{
		Prompt: prompt, Negative: "", Frames: frames, Height: height, Width: width,
		Steps: steps, Shift: 5, Solver: "unipc", Guidance: scheduler.I2VGuidance(), Seed: seed,
		Log: slog.New(slog.NewTextHandler(stdout, nil)),
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if backend != "cpu" && backend != "cuda" {
		return fmt.Errorf("unknown backend %q: use cpu or cuda", backend)
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s already exists: choose another -out or remove it", out)
	}
	m := pipeline.Models{
		TextEncoder: filepath.Join(models, "t5_tiny_f32.gguf"),
		VAE:         filepath.Join(models, "vae_tiny.safetensors"),
	}
	textDim, err := textWidth(m.TextEncoder)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), ".wan22-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Two tiny experts whose text width matches the tiny encoder.
	cfg := dit.Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: textDim, FreqDim: 256, Layers: 2, Heads: 2}
	m.High, m.Low = filepath.Join(tmp, "high_q8_0.gguf"), filepath.Join(tmp, "low_q4_k.gguf")
	if err := dit.WriteSynthetic(m.High, cfg, gguf.TypeQ8_0, 1); err != nil {
		return err
	}
	if err := dit.WriteSynthetic(m.Low, cfg, gguf.TypeQ4_K, 2); err != nil {
		return err
	}

	frameDir := filepath.Join(tmp, "frames")
	if err := os.Mkdir(frameDir, 0o755); err != nil {
		return err
	}
	bc, err := openBackend(backend, vram)
	if err != nil {
		return err
	}
	defer bc.close()
	o.BackendFor = bc.stage
	start := time.Now()
	written := 0
	err = pipeline.I2V(context.Background(), bc.b, m, demoImage(width, height), o, func(f []float32, first int) error {
		n := len(f) / (3 * width * height)
		for i := range n {
			if err := writePNG(filepath.Join(frameDir, fmt.Sprintf("frame_%04d.png", first+i)), f, i, n, width, height); err != nil {
				return err
			}
			written++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.Rename(frameDir, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d frames (%dx%d) to %s in %s\n", written, width, height, out, time.Since(start).Round(time.Millisecond))
	return nil
}

func textWidth(path string) (int, error) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	info := modelfile.Detect(src)
	if info.T5 == nil {
		return 0, fmt.Errorf("%s is not a umT5 encoder (%s)", path, info.Name())
	}
	return info.T5.Dim, nil
}

// demoImage draws a smooth colour field with a disc, RGB in [-1, 1], [3, H, W].
func demoImage(w, h int) []float32 {
	img := make([]float32, 3*w*h)
	for y := range h {
		for x := range w {
			u, v := float64(x)/float64(w), float64(y)/float64(h)
			r, g, b := u, v, 1-u
			if dx, dy := u-0.5, v-0.5; dx*dx+dy*dy < 0.04 {
				r, g, b = 1, 0.9, 0.2
			}
			img[0*w*h+y*w+x] = float32(2*r - 1)
			img[1*w*h+y*w+x] = float32(2*g - 1)
			img[2*w*h+y*w+x] = float32(2*b - 1)
		}
	}
	return img
}

// writePNG writes frame i of f [3, n, H, W] (in [-1, 1]) as an 8-bit PNG,
// mapping (x+1)/2·255 with truncation as the reference pipeline does.
func writePNG(path string, f []float32, i, n, w, h int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	plane := w * h
	px := func(c, y, x int) uint8 {
		v := (float64(f[(c*n+i)*plane+y*w+x]) + 1) / 2 * 255
		return uint8(math.Max(0, math.Min(255, v)))
	}
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{px(0, y, x), px(1, y, x), px(2, y, x), 255})
		}
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(file, img); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}
