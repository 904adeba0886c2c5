package wan22_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log"
	"os"
	"path/filepath"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/safetensors"
)

// tinyModels writes the tiny random-weight models into a temporary folder,
// so that the examples run with nothing but the repository, and returns
// them, the folder (for the examples' outputs) and what removes it. With
// real weights, name the four files instead.
func tinyModels() (wan22.Models, string, func()) {
	dir, err := os.MkdirTemp("", "wan22-example-")
	if err != nil {
		log.Fatal(err)
	}
	p, err := tinymodels.Write(dir, 1)
	if err != nil {
		log.Fatal(err)
	}
	return wan22.Models{High: p.High, Low: p.Low, TextEncoder: p.TextEncoder, VAE: p.VAE}, dir, func() { os.RemoveAll(dir) }
}

// Generate a short video into a file, the common path: Open the models,
// Resolve the request to learn the video's size and frame rate, create the
// video writer with them, Generate into it, and Close the writer (which
// completes the file) and the Pipeline. Random tiny weights make coloured
// noise; with the real I2V-A14B files the same program makes the video.
func Example() {
	models, dir, cleanup := tinyModels()
	defer cleanup()
	ctx := context.Background() // cancel it (e.g. on Ctrl-C) to stop the run

	p, err := wan22.Open(ctx, models, wan22.Options{Device: "cpu"}) // Device "" (auto): the GPU when there is one
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// A zero Request field takes the official default (81 frames, 40 steps,
	// 1280×720 max area, …); these are cut down for the tiny models.
	req := wan22.Request{
		Image:  imageprep.TestImage(64, 32), // or imageprep.Load("cat.png")
		Prompt: "a cat surfing a wave at sunset",
		Frames: 5, MaxArea: 64 * 32, Steps: 2, Seed: 42,
	}
	s, err := p.Resolve(req)
	if err != nil {
		log.Fatal(err) // a *wan22.RequestError names the field at fault, a *wan22.BudgetError the memory
	}
	fmt.Printf("%dx%d, %d frames at %d fps, %d steps of %s\n", s.Width, s.Height, s.Frames, s.FPS, s.Steps, s.Solver)

	// .avi is written by Go alone; .mp4 needs ffmpeg on the PATH (without
	// it, Create writes an MJPEG .avi instead: w.Fallback says so, w.Path
	// is the file).
	path := filepath.Join(dir, "surf.avi")
	w, err := video.Create(ctx, path, video.Options{Width: s.Width, Height: s.Height, FPS: s.FPS})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // on failure, removes the partial file; after Close, does nothing
	err = p.Generate(ctx, req, wan22.Output{Video: w, Progress: func(ev wan22.Event) {
		if ev.Done && ev.Stage != wan22.VideoWrite {
			fmt.Println(ev.Stage, "done")
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		log.Fatal(err)
	}
	fmt.Println("frames written:", w.Frames())
	// Output:
	// 64x32, 5 frames at 16 fps, 2 steps of unipc
	// vae-encode done
	// text-encode done
	// high-noise done
	// low-noise done
	// vae-decode done
	// frames written: 5
}

// Resolve shows the settings a request runs with: here the official
// defaults for a 1280×720 image.
func ExamplePipeline_Resolve() {
	models, _, cleanup := tinyModels()
	defer cleanup()
	p, err := wan22.Open(context.Background(), models, wan22.Options{Device: "cpu", HostBudget: 64 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	s, err := p.Resolve(wan22.Request{Image: imageprep.TestImage(1280, 720), Prompt: "a cat"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%dx%d, %d frames at %d fps, %d steps of %s, shift %g, guidance %g/%g, boundary %g\n",
		s.Width, s.Height, s.Frames, s.FPS, s.Steps, s.Solver, s.Shift, s.Guidance.High, s.Guidance.Low, s.Guidance.Boundary)
	// Output:
	// 1280x720, 81 frames at 16 fps, 40 steps of unipc, shift 5, guidance 3.5/3.5, boundary 0.9
}

// Frames can be taken one by one as they are decoded, e.g. to show them.
func ExampleOutput_frame() {
	models, _, cleanup := tinyModels()
	defer cleanup()
	ctx := context.Background()
	p, err := wan22.Open(ctx, models, wan22.Options{Device: "cpu"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	req := wan22.Request{Image: imageprep.TestImage(32, 32), Prompt: "a lighthouse", Frames: 5, Width: 32, Height: 16, Steps: 1}
	err = p.Generate(ctx, req, wan22.Output{Frame: func(i int, img *image.RGBA) error {
		fmt.Println("frame", i, img.Bounds().Dx(), "x", img.Bounds().Dy())
		return nil
	}})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// frame 0 32 x 16
	// frame 1 32 x 16
	// frame 2 32 x 16
	// frame 3 32 x 16
	// frame 4 32 x 16
}

// A run stops when its context ends: cancel it from another goroutine (a
// GUI's Stop button, signal.NotifyContext for Ctrl-C, a request's
// deadline). Generate returns within one DiT block, one prompt or one frame
// group, with every model released, an error that wraps the context's, and
// the Pipeline ready for the next request; Abort the writer to remove the
// partial file.
func ExamplePipeline_Generate_cancel() {
	models, dir, cleanup := tinyModels()
	defer cleanup()
	p, err := wan22.Open(context.Background(), models, wan22.Options{Device: "cpu"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	req := wan22.Request{Image: imageprep.TestImage(32, 32), Prompt: "a kite", Frames: 5, Width: 32, Height: 32, Steps: 4}
	path := filepath.Join(dir, "kite.avi")
	w, err := video.Create(ctx, path, video.Options{Width: 32, Height: 32})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort()
	err = p.Generate(ctx, req, wan22.Output{Video: w, Progress: func(ev wan22.Event) {
		if ev.Stage == wan22.HighNoise && ev.Step == 1 {
			stop() // here after the first denoising step; in a program, whenever the user asks
		}
	}})
	fmt.Println("cancelled:", errors.Is(err, context.Canceled))
	w.Abort() // the partial file is removed
	_, err = os.Stat(path)
	fmt.Println("file left:", err == nil)
	// Output:
	// cancelled: true
	// file left: false
}

// Progress events drive a progress bar: the model stages report their start
// and their end (Done); the denoising steps count Step of Steps over both
// experts, with PerStep and ETA (the time left), and the decoded and
// written frames count frames. Events come on the goroutine of Generate,
// between the steps: a slow callback slows the run.
func ExampleOutput_progress() {
	models, _, cleanup := tinyModels()
	defer cleanup()
	ctx := context.Background()
	p, err := wan22.Open(ctx, models, wan22.Options{Device: "cpu"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	req := wan22.Request{Image: imageprep.TestImage(32, 32), Prompt: "a kite", Frames: 5, Width: 32, Height: 32, Steps: 3}
	err = p.Generate(ctx, req, wan22.Output{
		Frame: func(int, *image.RGBA) error { return nil },
		Progress: func(ev wan22.Event) {
			switch {
			case ev.Done:
				fmt.Println(ev.Stage, "done")
			case (ev.Stage == wan22.HighNoise || ev.Stage == wan22.LowNoise) && ev.PerStep > 0:
				// A step's event; the expert's start (its block plan in
				// ev.Plan) comes before its first step, with no pace yet.
				fmt.Printf("%s: step %d of %d\n", ev.Stage, ev.Step, ev.Steps) // and ev.ETA, ev.Memory.PeakVRAM, …
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// vae-encode done
	// text-encode done
	// high-noise: step 1 of 3
	// high-noise: step 2 of 3
	// high-noise done
	// low-noise: step 3 of 3
	// low-noise done
	// video-write done
	// vae-decode done
}

// Options choose the device and its memory: Device "" (DeviceAuto) takes the
// GPU when the binary has CUDA and there is one; VRAMBudget holds the run to
// fewer bytes of device memory than the card has (e.g. 32 GiB, to run as
// on a 32 GB card: blocks that do not fit are streamed from pinned host
// memory, PinnedBudget); Attention opts in to 8-bit attention, which only
// the GPU runs: Open refuses it elsewhere with an *AttentionError.
func ExampleOptions() {
	models, _, cleanup := tinyModels()
	defer cleanup()
	ctx := context.Background()
	att, err := wan22.ParseAttentionPrecision("int8") // e.g. from a flag or a settings dialog
	if err != nil {
		log.Fatal(err)
	}
	o := wan22.Options{
		Device:     wan22.DeviceCPU, // here, so that the example runs alike everywhere
		VRAMBudget: 32 << 30,        // bytes; the CPU has no device memory to budget
		Attention:  att,
	}
	p, err := wan22.Open(ctx, models, o)
	var ae *wan22.AttentionError
	if errors.As(err, &ae) {
		fmt.Printf("no %s attention on %s, running bf16\n", ae.Precision, ae.Device)
		o.Attention = wan22.AttentionBF16
		p, err = wan22.Open(ctx, models, o)
	}
	if err != nil {
		log.Fatal(err) // a *wan22.ModelError names the file at fault, a *wan22.OptionsError the option
	}
	defer p.Close()
	fmt.Println(p.Device(), p.Attention())
	// Output:
	// no int8 attention on cpu, running bf16
	// cpu bf16
}

// tinyLoRA writes a stand-in LoRA for the tiny experts (rank 1 on block 0's
// self-attention query, all zeros) into dir/name and returns its path.
func tinyLoRA(dir, name string) string {
	d := int64(tinymodels.DiT().Dim)
	key := "diffusion_model.blocks.0.self_attn.q"
	path := filepath.Join(dir, name)
	err := safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32(key+".lora_down.weight", []int64{1, d}, make([]float32, d)),
		safetensors.FromFloat32(key+".lora_up.weight", []int64{d, 1}, make([]float32, d)),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	return path
}

// LoRAs attach to the experts at run time, without touching the model files:
// WAN 2.2 LoRAs mostly come as a pair, one file per expert (LoRABoth, the
// zero Expert, gives one file to both). The Strength is taken as given: the
// zero value leaves the expert as it is, so set it; 1 is the LoRA as
// trained. Resolve checks every LoRA against its expert before any model
// loads: a LoRA for another model is a *wan22.RequestError on LoRAs. The
// step-distillation LoRAs (LightX2V's) run with Solver wan22.DistillSolver.
func ExampleLoRA() {
	models, dir, cleanup := tinyModels()
	defer cleanup()
	ctx := context.Background()
	p, err := wan22.Open(ctx, models, wan22.Options{Device: "cpu"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	req := wan22.Request{
		Image: imageprep.TestImage(32, 32), Prompt: "a paper boat", Frames: 5, Width: 32, Height: 32, Steps: 2,
		LoRAs: []wan22.LoRA{
			{Path: tinyLoRA(dir, "style_high_noise.safetensors"), Strength: 1, Expert: wan22.LoRAHigh},
			{Path: tinyLoRA(dir, "style_low_noise.safetensors"), Strength: 0.8, Expert: wan22.LoRALow},
		},
	}
	s, err := p.Resolve(req)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range s.LoRAs {
		fmt.Printf("%s at strength %g on the %s-noise expert\n", filepath.Base(l.Path), l.Strength, l.Expert)
	}
	if err := p.Generate(ctx, req, wan22.Output{Frame: func(int, *image.RGBA) error { return nil }}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// style_high_noise.safetensors at strength 1 on the high-noise expert
	// style_low_noise.safetensors at strength 0.8 on the low-noise expert
}
