package kernels

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPTXUpToDate fails when a kernel source changed without `make ptx`.
func TestPTXUpToDate(t *testing.T) {
	cus, err := filepath.Glob("*.cu")
	if err != nil || len(cus) == 0 {
		t.Fatalf("no kernel sources found (%v)", err)
	}
	hs, _ := filepath.Glob("*.cuh")
	headers := map[string][]byte{}
	for _, h := range hs {
		b, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		headers[h] = b
	}
	for _, cu := range cus {
		name := strings.TrimSuffix(cu, ".cu")
		src, err := os.ReadFile(cu)
		if err != nil {
			t.Fatal(err)
		}
		ptx, err := PTX(name)
		if err != nil {
			t.Errorf("%s has no PTX: run make ptx", cu)
			continue
		}
		want := SourceHash(src, headers)
		if got := RecordedHash(ptx); got != want {
			t.Errorf("%s.ptx was made from other sources (recorded %q, sources hash %s): run make ptx and commit the PTX", name, got, want)
		}
	}
	// Every embedded module has a source.
	for _, m := range Modules() {
		if _, err := os.Stat(m + ".cu"); err != nil {
			t.Errorf("embedded %s.ptx has no %s.cu", m, m)
		}
	}
}

func TestPTXLooksLikePTX(t *testing.T) {
	for _, m := range Modules() {
		b, _ := PTX(m)
		s := string(b)
		if !strings.Contains(s, ".version ") || !strings.Contains(s, ".target sm_80") {
			t.Errorf("%s.ptx lacks a .version or the compute_80 target", m)
		}
	}
	if _, err := PTX("nope"); err == nil || !strings.Contains(err.Error(), "dequant") {
		t.Errorf("PTX(nope) = %v, want an error listing the modules", err)
	}
}
