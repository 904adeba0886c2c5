package cuda

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/kernels"
)

// TestModulePTXDir: without WAN22_PTX_DIR the embedded PTX; with it, a module's file there replaces the
// embedded one (portable and architecture modules, by their slash names), a module the folder lacks stays
// embedded, and an empty file, an unreadable one or a module the binary does not embed is an error naming the
// variable.
func TestModulePTXDir(t *testing.T) {
	embedded, err := kernels.PTX("gemm")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(ptxDirEnv, "")
	if b, dir, err := modulePTX("gemm"); err != nil || dir != "" || !bytes.Equal(b, embedded) {
		t.Fatalf("unset: %d bytes from %q, %v; want the embedded %d bytes", len(b), dir, err, len(embedded))
	}

	dir := t.TempDir()
	t.Setenv(ptxDirEnv, dir)
	write := func(name, text string) {
		p := filepath.Join(dir, filepath.FromSlash(name)+".ptx")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gemm", "// rebuilt gemm\n")
	if b, from, err := modulePTX("gemm"); err != nil || from != dir || string(b) != "// rebuilt gemm\n" {
		t.Errorf("gemm with an override: %q from %q, %v", b, from, err)
	}
	if b, from, err := modulePTX("norm"); err != nil || from != "" || len(b) == 0 {
		t.Errorf("norm, not in the folder: %d bytes from %q, %v; want the embedded module", len(b), from, err)
	}
	if arch := kernels.ArchModules(kernels.SM90a); len(arch) > 0 {
		write(arch[0], "// rebuilt "+arch[0]+"\n")
		if b, from, err := modulePTX(arch[0]); err != nil || from != dir || !strings.Contains(string(b), "rebuilt") {
			t.Errorf("%s with an override: %q from %q, %v", arch[0], b, from, err)
		}
	}

	for _, c := range []struct{ name, setup, want string }{
		{"vae", "empty", "is empty"},
		{"nosuchmodule", "file", "does not embed"},
		{"conv", "dir", ptxDirEnv},
	} {
		p := filepath.Join(dir, c.name+".ptx")
		switch c.setup {
		case "empty":
			write(c.name, "")
		case "file":
			write(c.name, "// a module nobody embeds\n")
		case "dir": // a folder where the file should be: reading it fails
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := modulePTX(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), ptxDirEnv) {
			t.Errorf("%s (%s): error %v; want one naming %s and saying %q", c.name, c.setup, err, ptxDirEnv, c.want)
		}
	}
}
