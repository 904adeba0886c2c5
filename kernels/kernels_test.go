package kernels

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPTXUpToDate fails when a kernel source changed without `make ptx` (kernels/*.cu),
// bench/attention/ptx_sm90a.sh (kernels/sm90a/*.cu) or scripts/ptx.sh with nvcc ≥ 12.4 (kernels/sm89/*.cu,
// checked only where their PTX is built in: it is optional). All record the hash of the .cu followed by
// kernels/*.cuh, so the check needs no compiler.
func TestPTXUpToDate(t *testing.T) {
	cus, err := filepath.Glob("*.cu")
	if err != nil || len(cus) == 0 {
		t.Fatalf("no kernel sources found (%v)", err)
	}
	archCUs, err := filepath.Glob(SM90a + "/*.cu")
	if err != nil || len(archCUs) == 0 {
		t.Fatalf("no %s kernel sources found (%v)", SM90a, err)
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
	sm89CUs, err := filepath.Glob(SM89 + "/*.cu")
	if err != nil || len(sm89CUs) == 0 {
		t.Fatalf("no %s kernel sources found (%v)", SM89, err)
	}
	regen := func(name string) string {
		switch {
		case strings.HasPrefix(name, SM90a+"/"):
			return "run bench/attention/ptx_sm90a.sh on a machine with nvcc 12 or newer"
		case strings.HasPrefix(name, SM89+"/"):
			return "run scripts/ptx.sh " + name + ".cu on a machine with nvcc 12.4 or newer"
		}
		return "run make ptx"
	}
	for _, cu := range slices.Concat(cus, archCUs, sm89CUs) {
		name := strings.TrimSuffix(cu, ".cu")
		src, err := os.ReadFile(cu)
		if err != nil {
			t.Fatal(err)
		}
		ptx, err := PTX(name)
		if err != nil && strings.HasPrefix(name, SM89+"/") {
			t.Logf("%s: no PTX built in (optional; %s to add it)", cu, regen(name))
			continue
		}
		if err != nil {
			t.Errorf("%s has no PTX: %s", cu, regen(name))
			continue
		}
		want := SourceHash(src, headers)
		if got := RecordedHash(ptx); got != want {
			t.Errorf("%s.ptx was made from other sources (recorded %q, sources hash %s): %s and commit the PTX", name, got, want, regen(name))
		}
	}
	// Every embedded module has a source.
	for _, m := range slices.Concat(Modules(), ArchModules(SM90a), ArchModules(SM89)) {
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
	arch := ArchModules(SM90a)
	if len(arch) == 0 {
		t.Errorf("no %s modules embedded", SM90a)
	}
	for _, m := range arch {
		b, err := PTX(m)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.HasPrefix(m, SM90a+"/") || !strings.Contains(s, ".version ") || !strings.Contains(s, ".target sm_90a") {
			t.Errorf("%s.ptx lacks a .version or the sm_90a target", m)
		}
		if strings.Contains(s, ".target sm_80") {
			t.Errorf("%s.ptx targets sm_80", m)
		}
	}
	for _, m := range ArchModules(SM89) {
		b, err := PTX(m)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.HasPrefix(m, SM89+"/") || !strings.Contains(s, ".version ") || !strings.Contains(s, ".target sm_89") {
			t.Errorf("%s.ptx lacks a .version or the sm_89 target", m)
		}
	}
	for _, m := range Modules() {
		if strings.Contains(m, "/") {
			t.Errorf("Modules lists the architecture-specific module %s", m)
		}
	}
	if _, err := PTX("nope"); err == nil || !strings.Contains(err.Error(), "dequant") || !strings.Contains(err.Error(), "sm90a/attention") {
		t.Errorf("PTX(nope) = %v, want an error listing the modules", err)
	}
	if got := ArchModules("../x"); got != nil {
		t.Errorf("ArchModules(../x) = %v", got)
	}
}

func TestEntries(t *testing.T) {
	ptx := []byte("// .entry not_me(\n.visible .entry first(\n\t.param .u64 a\n)\n  .entry second_2$x (\n.weak .entry third()\nmov.u32 %r1, 0; // .entry nor_me(\n")
	got := Entries(ptx)
	want := []string{"first", "second_2$x", "third"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Entries = %q, want %q", got, want)
	}
	// Every embedded module has entry points, none twice.
	for _, m := range slices.Concat(Modules(), ArchModules(SM90a), ArchModules(SM89)) {
		b, _ := PTX(m)
		es := Entries(b)
		if len(es) == 0 {
			t.Errorf("%s.ptx: no .entry found", m)
		}
		seen := map[string]bool{}
		for _, e := range es {
			if seen[e] {
				t.Errorf("%s.ptx: entry %s twice", m, e)
			}
			seen[e] = true
		}
	}
}

// TestHeaderLines: the two header lines scripts/ptx.sh writes read back, and the script writes the prefixes
// this package reads.
func TestHeaderLines(t *testing.T) {
	ptx := []byte(HashPrefix + "abc123\n" + BuildPrefix + "release 12.4, V12.4.131; flags: -ptx -arch=compute_90a\n.version 8.4\n")
	if got := RecordedHash(ptx); got != "abc123" {
		t.Errorf("RecordedHash = %q", got)
	}
	if got := RecordedBuild(ptx); got != "release 12.4, V12.4.131; flags: -ptx -arch=compute_90a" {
		t.Errorf("RecordedBuild = %q", got)
	}
	if got := RecordedBuild([]byte(HashPrefix + "abc\n//\n.version 7.8\n")); got != "" {
		t.Errorf("RecordedBuild without the line = %q", got)
	}
	if got := RecordedBuild(nil); got != "" {
		t.Errorf("RecordedBuild(nil) = %q", got)
	}
	script, err := os.ReadFile("../scripts/ptx.sh")
	if err != nil {
		t.Skipf("scripts/ptx.sh not found next to the package: %v", err)
	}
	for _, p := range []string{HashPrefix, BuildPrefix} {
		if !strings.Contains(string(script), `echo "`+p) {
			t.Errorf("scripts/ptx.sh does not write %q", p)
		}
	}
}
