package lora

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/safetensors"
)

// TestPathsQuoted: a LoRA's path or name holding a control character (a
// terminal escape, a newline) or bytes that are not UTF-8 is Go-quoted in
// every error and description that names it, so that it does not reach the
// terminal raw: a missing file, one too short, a GGUF model or another kind
// of file, one with no LoRA tensors, one for another model, one with a
// NaN, and Describe's first line. An ordinary name is printed as it is.
func TestPathsQuoted(t *testing.T) {
	const down, up = "diffusion_model.blocks.0.self_attn.q.lora_down.weight", "diffusion_model.blocks.0.self_attn.q.lora_up.weight"
	for _, name := range []string{"l\x1b[31m", "l\nx", "l\xff", "a b"} {
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+".short", []byte("abc"), 0o644); err != nil {
			t.Skipf("this system does not take the name %q: %v", name, err)
		}
		shown := func(path string) string { // as the messages print it
			if name == "a b" {
				return path
			}
			return strconv.Quote(path)
		}
		check := func(what, msg, want string) {
			t.Helper()
			if safetext.Problem(msg, what == "Describe", 2000) != "" || // (a description is lines)
				!strings.HasPrefix(msg, want) {
				t.Errorf("%s of %q: %q, want it to start %q", what, p, msg, want)
			}
		}
		open := func(ext string) string {
			t.Helper()
			_, err := Open(p + ext)
			if err == nil {
				t.Fatalf("%q opened", p+ext)
			}
			return err.Error()
		}
		write := func(ext string, b []byte) {
			if err := os.WriteFile(p+ext, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		w := gguf.NewWriter()
		if err := w.AddTensor("blocks.0.ffn.0.weight", gguf.TypeF32, []int64{2}, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFile(p + ".gguf"); err != nil {
			t.Fatal(err)
		}
		write(".html", []byte("<!DOCTYPE html><html>Not found</html>"))
		check("Open", open(".missing"), shown(p+".missing"))
		check("Open", open(".short"), shown(p+".short"))
		check("Open", open(".gguf"), shown(p+".gguf"))
		check("Open", open(".html"), shown(p+".html"))

		_, err := fileOf(t, p, zeros("x", 2))
		check("NewFile", err.Error(), "lora: "+shown(p)+": unknown keys")
		_, err = NewFile(strings.NewReader("not safetensors at all"), p)
		check("NewFile", err.Error(), "lora: "+shown(p)+": ")
		f, err := fileOf(t, p, zeros(down, 2, 64), zeros(up, 64, 2))
		if err != nil {
			t.Fatal(err)
		}
		check("Check", f.Check(Known[0]).Error(), "lora: "+shown(p)+" is a LoRA for")
		check("Describe", f.Describe().String(), shown(p)+"\n")
		values := make([]float32, 128)
		values[0] = float32(math.NaN())
		f, err = fileOf(t, p, zeros(down, 2, 64), safetensors.FromFloat32(up, []int64{64, 2}, values))
		if err != nil {
			t.Fatal(err)
		}
		check("CheckValues", f.CheckValues().Error(), "lora: "+shown(p)+": ")
	}
}
