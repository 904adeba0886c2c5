package cuda

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/kernels"
)

// TestFlashTableMatchesPTX: the flash table and the PTX of both attention modules list the same bf16
// entry points, each name spells its table fields, the shared memory is what the sources' layout needs,
// and the ranks of a module are 1…n.
func TestFlashTableMatchesPTX(t *testing.T) {
	for _, mod := range []string{flashModuleSM90a, flashModulePortable} {
		ptx, err := kernels.PTX(mod)
		if err != nil {
			t.Fatal(err)
		}
		entries := kernels.Entries(ptx)
		var inPTX []string
		for _, e := range entries {
			if strings.HasPrefix(e, "attn_") && strings.HasSuffix(e, "_bf16") {
				inPTX = append(inPTX, e)
			}
		}
		var inTable []string
		for _, s := range flashTable {
			if s.module == mod {
				inTable = append(inTable, s.name)
			}
		}
		slices.Sort(inPTX)
		slices.Sort(inTable)
		if !slices.Equal(inPTX, inTable) {
			t.Errorf("%s: bf16 entry points in the PTX %v, in flashTable %v", mod, inPTX, inTable)
		}
		for _, short := range []bool{false, true} {
			for i, s := range flashOrder(mod, short) {
				if r := map[bool]int{false: s.long, true: s.short}[short]; r != i+1 {
					t.Errorf("%s: %s has rank %d (short %v), want ranks 1…n without gaps or ties", mod, s.name, r, short)
				}
			}
		}
	}
	for _, s := range flashTable {
		variant := ""
		if s.module == flashModuleSM90a {
			variant = "g"
			if s.producer {
				variant = "g[pq]"
				if s.tma {
					variant = "gt"
					if s.qreg {
						variant += "r"
					}
				}
			}
		}
		tile := fmt.Sprintf("b%d", s.bm)
		if s.module == flashModuleSM90a && (s.bn != 128 || s.qtiles > 1) {
			tile += fmt.Sprintf("n%d", s.bn)
		}
		if s.qtiles > 1 && (!s.qreg || s.bm != 128*s.qtiles) {
			t.Errorf("%s: %d query tiles per CTA need Q in registers and bm = 128·qtiles (bm %d, qreg %v)", s.name, s.qtiles, s.bm, s.qreg)
		}
		if ok, _ := regexp.MatchString(fmt.Sprintf(`^attn_%s_w%d_s%d%s_bf16$`, tile, s.warps, s.stages, variant), s.name); !ok {
			t.Errorf("%s: the name does not spell bm %d, bn %d, warps %d, stages %d, producer %v, tma %v, qreg %v", s.name, s.bm, s.bn, s.warps, s.stages, s.producer, s.tma, s.qreg)
		}
		switch {
		case s.module == flashModulePortable && s.bn != 64:
			t.Errorf("%s: key tiles of %d rows; the portable kernels' are 64 (kernels/attention.cu BN)", s.name, s.bn)
		case s.module == flashModuleSM90a && s.bn != 128 && !(s.tma && s.bn == 176):
			t.Errorf("%s: key tiles of %d rows: the sm90a kernels' are 128, or 176 for a TMA one", s.name, s.bn)
		}
		if s.headDim != flashHeadDim {
			t.Errorf("%s: head dim %d", s.name, s.headDim)
		}
		// Shared memory from the kernels' layouts (see flashTable).
		var want int
		switch {
		case s.module == flashModuleSM90a && s.qtiles > 1:
			want = 32<<10 + s.stages*2*s.bn*256 + 128 + 8*16*72*2 // Q, the rings, the mbarriers, the epilogue's staging
		case s.module == flashModuleSM90a && s.producer:
			want = 32<<10 + s.stages*2*s.bn*256 + 256 // Q, then stages of K and V tiles, then the mbarriers
		case s.module == flashModuleSM90a:
			want = 32<<10 + s.stages*64<<10
		default:
			want = s.stages * 32 << 10
			if s.bm == 32*s.warps {
				want += s.bm * 256
			}
		}
		if s.smem != want {
			t.Errorf("%s: %d bytes of shared memory, the layout needs %d", s.name, s.smem, want)
		}
	}
}

// TestFlashPick: the entry point chosen for a device and a shape.
func TestFlashPick(t *testing.T) {
	const (
		h100   = 227 << 10 // opt-in shared memory per block
		a100   = 163 << 10
		ada    = 99 << 10 // sm_86, sm_89, sm_120
		noOpt  = 48 << 10 // the attribute could not be read
		long   = 32760
		short  = 512
		border = flashShortKeys
	)
	for _, c := range []struct {
		major, minor   int
		portable       bool
		headDim, keys  int
		smem           int
		module, name   string // "" when none fits
		wantErrSubstrs string
	}{
		{9, 0, false, 128, long, h100, flashModuleSM90a, "attn_b128n176_w12_s2gt_bf16", ""},
		{9, 0, false, 128, short, h100, flashModuleSM90a, "attn_b512n128_w12_s2gtr_bf16", ""},
		{9, 0, false, 128, border, h100, flashModuleSM90a, "attn_b512n128_w12_s2gtr_bf16", ""},
		{9, 0, false, 128, border + 1, h100, flashModuleSM90a, "attn_b128n176_w12_s2gt_bf16", ""},
		// Four query tiles per CTA need 178.1 KiB: short keys still take them where n176 does not fit.
		{9, 0, false, 128, short, 200 << 10, flashModuleSM90a, "attn_b512n128_w12_s2gtr_bf16", ""},
		// Less than n176's 208.25 KiB: s3gt's 224.25 KiB does not fit either.
		{9, 0, false, 128, long, 208 << 10, flashModuleSM90a, "attn_b128_w8_s2g_bf16", ""},
		{9, 0, true, 128, long, h100, flashModulePortable, "attn_b256_w8_s3_bf16", ""},
		{9, 0, true, 128, short, h100, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{9, 0, true, 128, border, h100, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{9, 0, true, 128, border + 1, h100, flashModulePortable, "attn_b256_w8_s3_bf16", ""},
		// A Hopper part allowing less: the 160 KiB s2g, then the portable module.
		{9, 0, false, 128, long, 200 << 10, flashModuleSM90a, "attn_b128_w8_s2g_bf16", ""},
		{9, 0, false, 128, long, 150 << 10, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{8, 0, false, 128, long, a100, flashModulePortable, "attn_b256_w8_s3_bf16", ""},
		{8, 0, false, 128, short, a100, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{8, 9, false, 128, long, ada, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{12, 0, false, 128, long, ada, flashModulePortable, "attn_b128_w4_s2_bf16", ""},
		{9, 0, false, 128, long, noOpt, "", "", "attn_b128_w8_s2_bf16 needs 65536 bytes of shared memory, the device allows 49152"},
		{9, 0, false, 64, long, h100, "", "", "head dim 64"},
	} {
		s, err := flashPick(c.major, c.minor, c.portable, c.headDim, c.keys, c.smem)
		what := fmt.Sprintf("flashPick(%d.%d, portable %v, head dim %d, %d keys, %d bytes)", c.major, c.minor, c.portable, c.headDim, c.keys, c.smem)
		if c.name == "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSubstrs) {
				t.Errorf("%s = %s, %v; want an error containing %q", what, s.name, err, c.wantErrSubstrs)
			}
			continue
		}
		if err != nil || s.module != c.module || s.name != c.name {
			t.Errorf("%s = %s:%s, %v; want %s:%s", what, s.module, s.name, err, c.module, c.name)
		}
	}
}

// TestFlashFirstFitLoad: an entry point the loader refuses is passed over; a module failure ends the
// module's search with its own error.
func TestFlashFirstFitLoad(t *testing.T) {
	var tried []string
	s, err := flashFirstFit(flashModuleSM90a, false, 227<<10, "", func(s flashSpec) error {
		tried = append(tried, s.name)
		if s.tma {
			return errors.New("no TMA: cuTensorMapEncodeTiled not found")
		}
		if s.name == "attn_b128_w12_s3gq_bf16" {
			return errors.New("no such function")
		}
		return nil
	})
	if err != nil || s.name != "attn_b128_w8_s3g_bf16" || len(tried) != 5 {
		t.Errorf("after a refused entry point: %s, %v (tried %v)", s.name, err, tried)
	}
	tried = nil
	jit := errors.New("PTX ISA 9.0 not supported")
	_, err = flashFirstFit(flashModuleSM90a, false, 227<<10, "", func(s flashSpec) error {
		tried = append(tried, s.name)
		return flashModuleError{jit}
	})
	if err != jit || len(tried) != 1 {
		t.Errorf("module failure: %v (tried %v), want %v after one try", err, tried, jit)
	}
	if _, err := flashFirstFit("nope", false, 227<<10, "", nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown module: %v", err)
	}
	// Config.FlashKernel: the preferred entry point first, then the table's order; a name the module lacks
	// changes nothing.
	for _, c := range []struct{ prefer, want string }{
		{"attn_b128_w8_s2g_bf16", "attn_b128_w8_s2g_bf16"},
		{"attn_b128_w12_s3gtr_bf16", "attn_b128_w12_s3gtr_bf16"},
		{"attn_b256_w8_s3_bf16", "attn_b128n176_w12_s2gt_bf16"}, // the portable module's
		{"attn_nope", "attn_b128n176_w12_s2gt_bf16"},
	} {
		tried = nil
		s, err := flashFirstFit(flashModuleSM90a, false, 227<<10, c.prefer, func(s flashSpec) error {
			tried = append(tried, s.name)
			return nil
		})
		if err != nil || s.name != c.want || len(tried) != 1 {
			t.Errorf("prefer %s: %s, %v (tried %v), want %s", c.prefer, s.name, err, tried, c.want)
		}
	}
	tried = nil
	s, err = flashFirstFit(flashModuleSM90a, false, 227<<10, "attn_b128_w8_s3g_bf16", func(s flashSpec) error {
		tried = append(tried, s.name)
		if s.name == "attn_b128_w8_s3g_bf16" {
			return errors.New("no such function")
		}
		return nil
	})
	if err != nil || s.name != "attn_b128n176_w12_s2gt_bf16" || len(tried) != 2 {
		t.Errorf("a refused preferred entry point: %s, %v (tried %v), want the table's first next", s.name, err, tried)
	}
}

// TestAttn8ModuleFor: fp8 runs the sm89 module only on compute capability 8.9 and newer with the module
// built in, and says why otherwise.
func TestAttn8ModuleFor(t *testing.T) {
	for _, c := range []struct {
		fp8          bool
		major, minor int
		built        bool
		want         string
		why          string
	}{
		{false, 9, 0, true, attn8Module, ""},
		{true, 8, 9, true, attn8FP8Module, ""},
		{true, 9, 0, true, attn8FP8Module, ""},
		{true, 12, 0, true, attn8FP8Module, ""},
		{true, 8, 6, true, attn8Module, "no FP8 MMA"},
		{true, 8, 0, true, attn8Module, "no FP8 MMA"},
		{true, 8, 9, false, attn8Module, "not built in"},
	} {
		got, why := attn8ModuleFor(c.fp8, c.major, c.minor, c.built)
		if got != c.want || (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
			t.Errorf("attn8ModuleFor(%v, %d.%d, built %v) = %q, %q; want %q, a reason with %q", c.fp8, c.major, c.minor, c.built, got, why, c.want, c.why)
		}
	}
}

// TestAttn8Table: each 8-bit entry point's name spells its fields, both modules offer the same tilings, and
// the table lists every attention entry point of each module's PTX that is built in (the sm89 one is
// optional).
func TestAttn8Table(t *testing.T) {
	tilings := map[string][]string{}
	for _, s := range attn8Table {
		if s.hopper {
			// sm90a: INT8 Q·Kᵀ by wgmma, TMA; Q8 16 KiB, three K8 (16 KiB), V (32 KiB bf16, 16 KiB int8 for attn8hi)
			// and Ko (4 KiB) slots, mbarriers.
			prefix, vKiB := "attn8h", 32
			if s.hopperV8 {
				prefix, vKiB = "attn8hi", 16
			}
			if s.module != attn8HopperModule || s.name != fmt.Sprintf("%s_b%d_w%d_s%dgt_bf16", prefix, s.bm, s.warps, s.stages) {
				t.Errorf("%s (%s): a Hopper 8-bit entry point is %s_b<bm>_w<warps>_s<stages>gt_bf16 of %s", s.name, s.module, prefix, attn8HopperModule)
			}
			if want := 16<<10 + s.stages*(16+vKiB+4)<<10 + 256; s.smem != want {
				t.Errorf("%s: smem %d, want %d", s.name, s.smem, want)
			}
			continue
		}
		prefix := map[string]string{attn8Module: "attn8", attn8FP8Module: "attn8f"}[s.module]
		if prefix == "" {
			t.Fatalf("%s: unknown module %q", s.name, s.module)
		}
		tiling := fmt.Sprintf("_b%d_w%d_s%d_bf16", s.bm, s.warps, s.stages)
		if s.name != prefix+tiling {
			t.Errorf("%s: name does not spell module %s, bm %d, warps %d, stages %d", s.name, s.module, s.bm, s.warps, s.stages)
		}
		if want := s.stages*18<<10 + s.bm*128; s.smem != want { // 64-key K, Vᵀ and K-outlier tiles, then Q
			t.Errorf("%s: smem %d, want %d", s.name, s.smem, want)
		}
		tilings[s.module] = append(tilings[s.module], fmt.Sprint(tiling, s.long, s.short))
	}
	if !slices.Equal(tilings[attn8Module], tilings[attn8FP8Module]) {
		t.Errorf("INT8 tilings %v, FP8 tilings %v", tilings[attn8Module], tilings[attn8FP8Module])
	}
	for mod, prefix := range map[string]string{attn8Module: "attn8_b", attn8FP8Module: "attn8f_b", attn8HopperModule: "attn8h"} {
		ptx, err := kernels.PTX(mod)
		if err != nil && (mod == attn8FP8Module || mod == attn8HopperModule) {
			t.Logf("%s is not built in: its entry points are not checked", mod)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var inPTX, inTable []string
		for _, e := range kernels.Entries(ptx) {
			if strings.HasPrefix(e, prefix) && strings.HasSuffix(e, "_bf16") {
				inPTX = append(inPTX, e)
			}
		}
		for _, s := range attn8Order(mod, false) {
			inTable = append(inTable, s.name)
		}
		slices.Sort(inPTX)
		slices.Sort(inTable)
		if !slices.Equal(inPTX, inTable) {
			t.Errorf("%s: bf16 entry points in the PTX %v, in attn8Table %v", mod, inPTX, inTable)
		}
	}
}

// TestFlashModulesFor: the Hopper module first on compute capability 9.0 unless the portable kernels are
// asked for, or Config.FlashKernel names a portable entry point (which the sm90a module's search would
// otherwise never reach); elsewhere the portable module only.
func TestFlashModulesFor(t *testing.T) {
	both, portableFirst := []string{flashModuleSM90a, flashModulePortable}, []string{flashModulePortable, flashModuleSM90a}
	portableOnly := []string{flashModulePortable}
	for _, c := range []struct {
		major, minor int
		portable     bool
		prefer       string
		want         []string
	}{
		{9, 0, false, "", both},
		{9, 0, false, "attn_b128_w12_s3gt_bf16", both},
		{9, 0, false, "attn_b256_w8_s3_bf16", portableFirst},
		{9, 0, false, "attn_nope", both},
		{9, 0, true, "attn_b128_w12_s3gt_bf16", portableOnly},
		{8, 9, false, "attn_b128_w12_s3gt_bf16", portableOnly},
		{10, 0, false, "", portableOnly},
	} {
		if got := flashModulesFor(c.major, c.minor, c.portable, c.prefer); !slices.Equal(got, c.want) {
			t.Errorf("flashModulesFor(%d.%d, portable %v, prefer %q) = %v, want %v", c.major, c.minor, c.portable, c.prefer, got, c.want)
		}
	}
}
