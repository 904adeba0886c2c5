package wan22_test

import (
	"context"
	"fmt"
	"image"
	"log"
	"os"
	"path/filepath"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/engine/video"
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

	// .avi is written by Go alone; .mp4 needs ffmpeg on the PATH.
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
