package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/safetensors"
)

// tinySet writes the tiny models into a temporary folder (well under a
// second).
func tinySet(t *testing.T) tinymodels.Paths {
	t.Helper()
	p, err := tinymodels.Write(t.TempDir(), 5)
	require.NoError(t, err)
	return p
}

// failingFFmpeg puts a fake ffmpeg first on PATH (the rest of PATH kept, so
// its shell finds head and wc): it reads the first 3000 bytes of the raw
// frames (more than one frame of the tiny runs' 32x16 RGBA), records how
// many it got in the returned file, and fails with "fake ffmpeg: disk quota
// exceeded", as an ffmpeg that fails after some frames were written. It
// skips the test without /bin/sh.
func failingFFmpeg(t *testing.T) (readBytes string) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake ffmpeg")
	}
	bin := t.TempDir()
	readBytes = filepath.Join(bin, "read-bytes")
	fake := fmt.Sprintf("#!/bin/sh\nhead -c 3000 | wc -c >'%s'\necho 'fake ffmpeg: disk quota exceeded' >&2\nexit 1\n", readBytes)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte(fake), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return readBytes
}

// requireFFmpegFailedAfterFrames checks a run's failure through
// failingFFmpeg: the fake's own message, no shell error (a command it
// needs not found), and the 3000 bytes it reads were really written.
func requireFFmpegFailedAfterFrames(t *testing.T, msg, readBytes string) {
	t.Helper()
	require.Contains(t, msg, "fake ffmpeg: disk quota exceeded")
	require.NotContains(t, msg, "not found")
	b, err := os.ReadFile(readBytes)
	require.NoError(t, err, "the fake ffmpeg did not run")
	require.Equal(t, "3000", strings.TrimSpace(string(b)), "bytes of frames the fake ffmpeg read before failing")
}

// i2vSetup writes the tiny models and a test image and returns the base
// arguments of a small run, and the folder for outputs.
func i2vSetup(t *testing.T) ([]string, string) {
	p := tinySet(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "in.png")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, imageprep.TestImage(48, 24)))
	require.NoError(t, f.Close())
	out := t.TempDir()
	return []string{"i2v", "--image", img, "--prompt", "a red boat", "--high", p.High, "--low", p.Low,
		"--text-encoder", p.TextEncoder, "--vae", p.VAE, "--frames", "5", "--size", "32x16", "--steps", "2",
		"--seed", "7", "--device", "cpu"}, out
}

// entries lists a folder's names.
func entries(t *testing.T, dir string) []string {
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestI2VWritesVideoDeterministically(t *testing.T) {
	args, out := i2vSetup(t)
	var stdout, stderr bytes.Buffer
	a := filepath.Join(out, "a.avi")
	preview := filepath.Join(out, "preview.png")
	code := run(append(args, "--out", a, "--frames-dir", filepath.Join(out, "frames"), "--preview", preview), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "wrote "+a+" (MJPEG AVI, 5 frames)")
	require.Contains(t, stderr.String(), "wan22 i2v: 32x16, 5 frames at 16 fps, 2 unipc steps")
	require.Contains(t, stderr.String(), "on cpu with f32 attention")
	require.Contains(t, stderr.String(), "high-noise expert: 2 blocks resident")
	require.Contains(t, stderr.String(), "s/it")
	require.Len(t, entries(t, filepath.Join(out, "frames")), 5)
	pf, err := os.Open(preview)
	require.NoError(t, err)
	pimg, err := png.Decode(pf)
	pf.Close()
	require.NoError(t, err)
	require.Equal(t, 32, pimg.Bounds().Dx())

	// Same seed, same bytes; the JSON events are one object per line.
	b := filepath.Join(out, "b.avi")
	stdout.Reset()
	require.Equal(t, 0, run(append(args, "--out", b, "--json"), &stdout, &stderr), stderr.String())
	ab, err := os.ReadFile(a)
	require.NoError(t, err)
	bb, err := os.ReadFile(b)
	require.NoError(t, err)
	require.Equal(t, ab, bb)
	types := map[string]int{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
		types[ev["type"].(string)]++
		if ev["type"] == "start" {
			require.Equal(t, "f32", ev["attention"], "the CPU computes attention in f32")
		}
		if ev["type"] == "progress" {
			require.Contains(t, []string{"vae-encode", "text-encode", "high-noise", "low-noise", "vae-decode", "video-write"}, ev["stage"])
		}
	}
	require.Equal(t, 1, types["start"])
	require.Equal(t, 1, types["done"])
	require.Greater(t, types["progress"], 5)

	// Another seed, another video.
	c := filepath.Join(out, "c.avi")
	require.Equal(t, 0, run(append(args, "--out", c, "--seed", "8"), &stdout, &stderr))
	cb, err := os.ReadFile(c)
	require.NoError(t, err)
	require.NotEqual(t, ab, cb)
}

func TestI2VBadInput(t *testing.T) {
	args, out := i2vSetup(t)
	p := tinySet(t)
	notImage := filepath.Join(t.TempDir(), "notimage.png")
	require.NoError(t, os.WriteFile(notImage, []byte("this is not a picture"), 0o644))
	corrupt := filepath.Join(t.TempDir(), "corrupt.gguf")
	require.NoError(t, os.WriteFile(corrupt, []byte("GGUF\x03\x00\x00\x00\xff\xff"), 0o644))
	existing := filepath.Join(t.TempDir(), "exists.mp4")
	require.NoError(t, os.WriteFile(existing, []byte("mine"), 0o644))
	set := func(flag, v string) []string {
		a := append([]string(nil), args...)
		for i := range a {
			if a[i] == flag {
				a[i+1] = v
				return a
			}
		}
		return append(a, flag, v)
	}
	target := filepath.Join(out, "v.avi")
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"missing model":     {set("--high", filepath.Join(out, "nope.gguf")), 1, "high-noise expert"},
		"corrupt model":     {set("--low", corrupt), 1, "low-noise expert " + corrupt + ": cannot be read"},
		"VAE as encoder":    {set("--text-encoder", p.VAE), 1, "text encoder " + p.VAE + ": is a WAN"},
		"low twice":         {set("--high", args[slices.Index(args, "--low")+1]), 1, "same file as the high-noise expert"},
		"image undecodable": {set("--image", notImage), 1, "image " + notImage},
		"frames":            {set("--frames", "6"), 2, "5 and 9"},
		"size":              {set("--size", "40x16"), 2, "nearest are 32 and 48"},
		"size syntax":       {set("--size", "big"), 2, "WIDTHxHEIGHT"},
		"no models":         {[]string{"i2v", "--image", notImage, "--out", target}, 2, "--high is required"},
		"no output":         {args, 2, "--out (a video file) or --frames-dir"},
		"output exists":     {set("--out", existing), 2, "already exists"},
		"unwritable":        {set("--out", filepath.Join(out, "no", "such", "dir", "v.mp4")), 2, "v.mp4: the folder"},
		"budget":            {append(set("--size", "2048x2048"), "--host-budget", "0.5", "--frames", "81"), 1, "more than the host memory budget of 0.50 GiB: make the video smaller or use fewer frames, or raise the budget. In wan22 i2v, raise --host-budget (0.5 GiB given)"},
		"cfg":               {set("--cfg", "3,4,5"), 2, "HIGH,LOW"},
		"cfg NaN":           {set("--cfg", "NaN"), 2, "--cfg NaN is out of range"},
		"vram NaN":          {set("--vram-budget", "NaN"), 2, "--vram-budget"},
		"both switches":     {append(set("--boundary", "0.8"), "--switch-step", "1"), 2, "not both"},
		"device":            {set("--device", "tpu"), 2, "--device"},
		"attention":         {set("--attention", "int4"), 2, `--attention: attention precision "int4" not understood: use bf16 (default), int8 or fp8`},
		"int8 on the CPU":   {set("--attention", "int8"), 2, "--attention int8: 8-bit attention needs the CUDA backend"},
		"arguments":         {append(args, "stray"), 2, "unexpected arguments"},
		"prompt Latin-1":    {set("--prompt", "a caf\xe9"), 2, "--prompt is not UTF-8 text (byte 0xe9 at offset 5"},
		"negative Latin-1":  {set("--negative", "flou \xe0 gauche"), 2, "--negative is not UTF-8 text (byte 0xe0 at offset 5"},
	} {
		var stdout, stderr bytes.Buffer
		a := c.args
		if !strings.Contains(strings.Join(a, " "), "--out") && name != "no output" {
			a = append(a, "--out", target)
		}
		code := run(a, &stdout, &stderr)
		require.Equal(t, c.code, code, "%s: %s", name, stderr.String())
		require.Contains(t, stderr.String(), c.want, name)
		require.Contains(t, stderr.String(), "wan22 i2v:", name)
		require.Empty(t, entries(t, out), "%s left files", name)
	}
	b, err := os.ReadFile(existing)
	require.NoError(t, err)
	require.Equal(t, "mine", string(b))
}

// TestI2VFFmpegFailsMidStream puts a fake ffmpeg on PATH that reads a little
// and then fails: the run must fail with ffmpeg's message and leave nothing.
func TestI2VFFmpegFailsMidStream(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake ffmpeg")
	}
	args, out := i2vSetup(t)
	bin := t.TempDir()
	fake := "#!/bin/sh\nhead -c 3000 >/dev/null\necho 'fake ffmpeg: disk quota exceeded' >&2\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ffmpeg"), []byte(fake), 0o755))
	t.Setenv("PATH", bin)
	var stdout, stderr bytes.Buffer
	code := run(append(args, "--out", filepath.Join(out, "v.mp4")), &stdout, &stderr)
	require.Equal(t, 1, code, stderr.String())
	require.Contains(t, stderr.String(), "ffmpeg")
	require.Empty(t, entries(t, out))
}

func TestI2VHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"i2v", "-h"}, &stdout, &stderr)
	require.Equal(t, 0, code)
	help := stdout.String() + stderr.String()
	require.Contains(t, help, "EXIF orientation is NOT applied")
	for _, f := range []string{"image", "prompt", "negative", "high", "low", "text-encoder", "vae", "frames", "size", "max-area", "steps", "shift", "cfg", "boundary", "switch-step", "solver", "seed", "vram-budget", "pinned-budget", "out", "fps", "frames-dir", "preview", "json", "device", "timesteps", "lora-high", "lora-low", "lora", "lora-merge"} {
		require.Regexp(t, `\n  -`+f+`[ \n]`, help, f)
	}
}

// writeTinyLoRA writes a ComfyUI-style LoRA of rank 2 for the tiny experts
// (tinymodels.DiT()) on the given linears of both blocks, with values drawn
// from seed, into dir/name.
func writeTinyLoRA(t *testing.T, dir, name string, seed uint64, linears ...string) string {
	t.Helper()
	c := tinymodels.DiT()
	const rank = 2
	r := rand.New(rand.NewPCG(seed, 11))
	values := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	var ts []safetensors.Tensor
	for b := range c.Layers {
		for _, lin := range linears {
			out, in := c.Dim, c.Dim
			switch lin {
			case "ffn.0":
				out = c.FFNDim
			case "ffn.2":
				in = c.FFNDim
			}
			key := fmt.Sprintf("diffusion_model.blocks.%d.%s", b, lin)
			ts = append(ts,
				safetensors.FromFloat32(key+".lora_down.weight", []int64{rank, int64(in)}, values(rank*in, 1/math.Sqrt(float64(in)))),
				safetensors.FromFloat32(key+".lora_up.weight", []int64{int64(out), rank}, values(out*rank, 1)),
				safetensors.FromFloat32(key+".alpha", []int64{}, []float32{rank}))
		}
	}
	path := filepath.Join(dir, name)
	require.NoError(t, safetensors.Write(path, ts, nil))
	return path
}

// i2vVideo runs wan22 with args, --out path and extra, which must succeed,
// and returns the video and what it printed.
func i2vVideo(t *testing.T, args []string, path string, extra ...string) (video []byte, stdout, stderr string) {
	t.Helper()
	var so, se bytes.Buffer
	code := run(append(append(slices.Clone(args), "--out", path), extra...), &so, &se)
	require.Equal(t, 0, code, se.String())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b, so.String(), se.String()
}

// TestI2VLoRAs runs the few-step workflow of the distillation LoRAs (the
// distill solver, guidance 1, one LoRA per expert) and checks that the LoRAs
// change the video and that strength 0 does not.
func TestI2VLoRAs(t *testing.T) {
	args, out := i2vSetup(t)
	dir := t.TempDir()
	high := writeTinyLoRA(t, dir, "distill_high_noise.safetensors", 1, "self_attn.q", "self_attn.o", "cross_attn.v", "ffn.0", "ffn.2")
	low := writeTinyLoRA(t, dir, "distill_low_noise.safetensors", 2, "self_attn.k", "ffn.2")
	args = append(args, "--solver", "distill", "--timesteps", "1000,500")
	video := func(name string, extra ...string) []byte {
		t.Helper()
		b, _, _ := i2vVideo(t, args, filepath.Join(out, name), extra...)
		return b
	}
	plain := video("plain.avi")
	var stdout, stderr bytes.Buffer
	code := run(append(slices.Clone(args), "--out", filepath.Join(out, "lora.avi"), "--lora-high", high, "--lora-low", low+":0.5"), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	for _, want := range []string{
		"2 distill steps (shift 5, cfg 1/1",
		"distilled timesteps 1000,500",
		"LoRA " + high + " at strength 1 on the high-noise expert",
		"LoRA " + low + " at strength 0.5 on the low-noise expert",
	} {
		require.Contains(t, stderr.String(), want)
	}
	withLoRA, err := os.ReadFile(filepath.Join(out, "lora.avi"))
	require.NoError(t, err)
	require.NotEqual(t, plain, withLoRA, "the LoRAs did not change the video")
	require.NotEqual(t, plain, video("high.avi", "--lora", high+":1.5"))
	require.Equal(t, plain, video("zero.avi", "--lora", high+":0", "--lora-low", low+":0"), "a LoRA at strength 0 changed the video")
}

// TestI2VLoRAMerge checks that --lora-merge reaches the pipeline: the start
// event carries merge, and since the tiny experts' block matrices are Q8_0
// and Q4_K, which keep the run-time path, the video is the run-time one bit
// for bit. Without a LoRA the flag is an error.
func TestI2VLoRAMerge(t *testing.T) {
	args, out := i2vSetup(t)
	lo := writeTinyLoRA(t, t.TempDir(), "style.safetensors", 3, "self_attn.q", "ffn.2")
	args = append(args, "--lora", lo+":0.8")
	video := func(name string, extra ...string) ([]byte, string, string) {
		t.Helper()
		return i2vVideo(t, args, filepath.Join(out, name), extra...)
	}
	rt, _, rtErr := video("runtime.avi")
	require.NotContains(t, rtErr, "merged")
	merged, _, stderr := video("merged.avi", "--lora-merge")
	require.Contains(t, stderr, "LoRA "+lo+" at strength 0.8 on both experts, merged into its F16/BF16/F32 weights")
	require.Equal(t, rt, merged, "quantized experts: the merged run must be the run-time one")
	_, stdout, _ := video("merged-json.avi", "--lora-merge", "--json")
	require.Contains(t, stdout, `"merge":true`)

	var so, se bytes.Buffer
	a, _ := i2vSetup(t)
	before := len(entries(t, out))
	code := run(append(a, "--out", filepath.Join(out, "none.avi"), "--lora-merge"), &so, &se)
	require.Equal(t, 2, code)
	require.Contains(t, se.String(), "--lora-merge merges the LoRAs given with --lora, --lora-high or --lora-low, and there are none")
	require.Len(t, entries(t, out), before, "a refused run left a file")
}

func TestI2VLoRAFlagErrors(t *testing.T) {
	args, out := i2vSetup(t)
	dir := t.TempDir()
	good := writeTinyLoRA(t, dir, "good.safetensors", 1, "self_attn.q")
	other := filepath.Join(dir, "other.safetensors") // a LoRA for a model of width 1536
	require.NoError(t, safetensors.Write(other, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", []int64{1, 1536}, make([]float32, 1536)),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", []int64{1536, 1}, make([]float32, 1536)),
	}, nil))
	target := filepath.Join(out, "v.avi")
	for name, c := range map[string]struct {
		extra []string
		code  int
		want  string
	}{
		"strength syntax":  {[]string{"--lora-high", good + ":strong"}, 2, `invalid value "` + good + `:strong" for flag -lora-high: want FILE or FILE:STRENGTH, and "strong" is not a number`},
		"strength NaN":     {[]string{"--lora-low", good + ":NaN"}, 2, "strength NaN is out of range"},
		"strength Inf":     {[]string{"--lora", good + ":+Inf"}, 2, "strength +Inf is out of range"},
		"strength huge":    {[]string{"--lora", good + ":1000"}, 2, "want a number from -100 to 100"},
		"empty file":       {[]string{"--lora", ":0.5"}, 2, "the file name is empty"},
		"missing file":     {[]string{"--lora-low", filepath.Join(dir, "nope.safetensors")}, 2, "--lora-low " + filepath.Join(dir, "nope.safetensors") + ": no such file"},
		"folder":           {[]string{"--lora", dir}, 2, "--lora " + dir + " is a folder"},
		"other model":      {[]string{"--lora-high", other}, 1, "is a LoRA for Wan 2.1 T2V-1.3B, not for this model"},
		"not a LoRA":       {[]string{"--lora", args[slices.Index(args, "--vae")+1]}, 1, "LoRA for the high-noise expert"},
		"timesteps":        {[]string{"--timesteps", "1000,500"}, 2, "--timesteps is for --solver distill, not unipc"},
		"timesteps order":  {[]string{"--solver", "distill", "--timesteps", "500,1000"}, 2, "--timesteps: scheduler: distilled timesteps must strictly decrease"},
		"timesteps syntax": {[]string{"--solver", "distill", "--timesteps", "1000;500"}, 2, "is not an integer"},
		"distill steps":    {[]string{"--solver", "distill", "--steps", "3"}, 2, "--steps 3: the distill solver runs one step per timestep, and --timesteps 1000,750,500,250 has 4"},
		"switch too late":  {[]string{"--solver", "distill", "--timesteps", "1000,500", "--switch-step", "3"}, 2, "--switch-step 3 is out of range"},
	} {
		var stdout, stderr bytes.Buffer
		a := append(slices.Clone(args), "--out", target)
		if i := slices.Index(a, "--steps"); i >= 0 && slices.Contains(c.extra, "--solver") {
			a = slices.Delete(a, i, i+2) // the distill solver takes its step count from the list
		}
		code := run(append(a, c.extra...), &stdout, &stderr)
		require.Equal(t, c.code, code, "%s: %s", name, stderr.String())
		require.Contains(t, stderr.String(), c.want, name)
		require.Contains(t, stderr.String(), "wan22 i2v:", name)
		require.Empty(t, entries(t, out), "%s left files", name)
	}
}

// TestInspectLoRA: `wan22 inspect` on a LoRA file describes it as a LoRA,
// and on a file with LoRA keys it cannot apply says why.
func TestInspectLoRA(t *testing.T) {
	dir := t.TempDir()
	path := writeTinyLoRA(t, dir, "motion_high_noise.safetensors", 3, "self_attn.q", "ffn.0")
	code, stdout, stderr := runCLI("inspect", path)
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{
		path + "\n",
		"style: ComfyUI/kohya (lora_down/lora_up)",
		"adapters: 4, deltas: 0, stored as F32",
		"rank: 2, alpha: 2",
		"self_attn.q: blocks 0-1",
		"ffn.0: blocks 0-1",
		"model sizes from its shapes: dim 256, ffn 512",
		"fits: no known WAN model", // the tiny model is no released one
		"expert: high noise",
	} {
		require.Contains(t, stdout, want)
	}
	// -v adds the tensor list.
	code, stdout, _ = runCLI("inspect", "-v", path)
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "blocks.1.ffn.0.lora_up.weight")

	// A file of LoRA keys wan22 refuses (a LyCORIS LoHa) is reported as such.
	loha := filepath.Join(dir, "loha.safetensors")
	require.NoError(t, safetensors.Write(loha, []safetensors.Tensor{
		safetensors.FromFloat32("lora_unet_blocks_0_self_attn_q.hada_w1_a", []int64{2, 4}, make([]float32, 8)),
		safetensors.FromFloat32("lora_unet_blocks_0_self_attn_q.lora_down.weight", []int64{2, 4}, make([]float32, 8)),
	}, nil))
	code, stdout, stderr = runCLI("inspect", loha)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "LoRA: not one wan22 can apply")
	require.Contains(t, stdout, "architecture:")
}
