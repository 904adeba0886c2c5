package cuda

import (
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// fakeMem returns a Mem at a made-up 256-aligned address (the checks never dereference it).
func fakeMem(at uintptr, n int64) Mem { return Mem{Ptr: at << 20, Bytes: n} }

// validConv is a 3×3×3 causal conv with a 1-frame cache and every buffer in place.
func validConv() ConvArgs {
	a := ConvArgs{Type: gguf.TypeF32, Cin: 4, T: 3, H: 5, W: 6, P: 1, Cout: 8, KT: 3, KH: 3, KW: 3, PadT: 1}
	a = a.withPad(1)
	a.X = fakeMem(1, 4*3*5*6*4)
	a.Prev = fakeMem(2, 4*1*5*6*4)
	a.Y = fakeMem(3, 8*3*5*6*4)
	a.Weight = fakeMem(4, 8*int64(ConvPackedK(4, 3, 3, 3))*2)
	a.Bias = fakeMem(5, 8*4)
	return a
}

func (a ConvArgs) withPad(p int) ConvArgs {
	a.PadTop, a.PadBottom, a.PadLeft, a.PadRight = p, p, p, p
	return a
}

func TestConvGeometry(t *testing.T) {
	cases := []struct {
		name       string
		a          ConvArgs
		to, ho, wo int
	}{
		// The VAE's layers (spec §5): causal 3×3×3 with the 2-frame padding, the downsampling Conv2d
		// (pad right/bottom 1, stride 2), the time convs, the upsampling Conv2d.
		{"causal", ConvArgs{Cin: 96, T: 4, H: 60, W: 104, Cout: 96, KT: 3, KH: 3, KW: 3, PadT: 2}.withPad(1), 4, 60, 104},
		{"cached", ConvArgs{Cin: 96, T: 4, H: 60, W: 104, P: 2, Cout: 96, KT: 3, KH: 3, KW: 3}.withPad(1), 4, 60, 104},
		{"down2d", ConvArgs{Cin: 96, T: 4, H: 480, W: 832, Cout: 96, KT: 1, KH: 3, KW: 3, PadBottom: 1, PadRight: 1, Stride: 2}, 4, 240, 416},
		{"down-time", ConvArgs{Cin: 192, T: 4, H: 120, W: 208, P: 1, Cout: 192, KT: 3, KH: 1, KW: 1, StrideT: 2}, 2, 120, 208},
		{"up-time", ConvArgs{Cin: 384, T: 1, H: 60, W: 104, P: 2, Cout: 768, KT: 3, KH: 1, KW: 1}, 1, 60, 104},
		{"up2d", ConvArgs{Cin: 384, T: 2, H: 60, W: 104, Cout: 192, KT: 1, KH: 3, KW: 3, Upsample2x: true}.withPad(1), 2, 120, 208},
		{"odd", ConvArgs{Cin: 3, T: 1, H: 7, W: 9, Cout: 5, KT: 3, KH: 3, KW: 3, PadT: 2, Stride: 2}.withPad(1), 1, 4, 5},
	}
	for _, c := range cases {
		to, ho, wo, err := c.a.Out()
		if err != nil || to != c.to || ho != c.ho || wo != c.wo {
			t.Errorf("%s: Out() = %d, %d, %d, %v; want %d, %d, %d", c.name, to, ho, wo, err, c.to, c.ho, c.wo)
		}
	}
}

func TestConvArgChecks(t *testing.T) {
	if _, err := validConv().check(); err != nil {
		t.Fatalf("valid conv rejected: %v", err)
	}
	bad := []struct {
		name string
		edit func(*ConvArgs)
		want string
	}{
		{"zero channels", func(a *ConvArgs) { a.Cin = 0 }, "bad shape"},
		{"negative pad", func(a *ConvArgs) { a.PadLeft = -1 }, "negative"},
		{"kernel too large", func(a *ConvArgs) { a.PadT, a.P, a.T, a.Prev = 0, 0, 2, Mem{} }, "smaller than the kernel"},
		{"K too long", func(a *ConvArgs) { a.Cin = 4000 }, "not below"},
		{"bad type", func(a *ConvArgs) { a.Type = gguf.TypeQ8_0 }, "not supported"},
		{"missing x", func(a *ConvArgs) { a.X = Mem{} }, "missing"},
		{"short y", func(a *ConvArgs) { a.Y.Bytes -= 4 }, "needed"},
		{"short weight", func(a *ConvArgs) { a.Weight.Bytes = 8 * 108 * 2 }, "needed"},
		{"missing prev", func(a *ConvArgs) { a.Prev = Mem{} }, "prev"},
		{"stray prev", func(a *ConvArgs) { a.P, a.PadT = 0, 2 }, "P = 0"},
		{"misaligned weight", func(a *ConvArgs) { a.Weight.Ptr += 8 }, "16-byte"},
		{"y over x", func(a *ConvArgs) { a.Y = Mem{Ptr: a.X.Ptr + 64, Bytes: a.Y.Bytes} }, "overlaps the input"},
		{"y over add", func(a *ConvArgs) { a.Add = Mem{Ptr: a.Y.Ptr + 64, Bytes: a.Y.Bytes} }, "overlaps add"},
	}
	for _, c := range bad {
		a := validConv()
		c.edit(&a)
		_, err := a.check()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
	// The residual added in place is allowed.
	a := validConv()
	a.Add = a.Y
	if _, err := a.check(); err != nil {
		t.Errorf("add == y rejected: %v", err)
	}
}

func TestConvTileM(t *testing.T) {
	for cout, want := range map[int]int{3: 16, 16: 16, 32: 32, 64: 64, 96: 96, 192: 96, 384: 128, 768: 128, 1152: 128, 100: 128, 130: 96} {
		if got := convTileM(cout); got != want {
			t.Errorf("convTileM(%d) = %d, want %d", cout, got, want)
		}
	}
	if ConvPackedK(3, 3, 3, 3) != 88 || ConvPackedK(384, 3, 3, 3) != 10368 {
		t.Errorf("ConvPackedK: %d, %d", ConvPackedK(3, 3, 3, 3), ConvPackedK(384, 3, 3, 3))
	}
}

func TestAttentionPlan(t *testing.T) {
	p, err := planAttention(384, 104*60)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cp != 384 || p.Lp != 6240 || p.Chunk != 6240 {
		t.Errorf("480p plan %+v: want one chunk of all 6240 queries", p)
	}
	p, err = planAttention(20, 6)
	if err != nil || p.Cp != 24 || p.Lp != 8 || p.Chunk != 8 {
		t.Errorf("tiny plan %+v, %v", p, err)
	}
	p, err = planAttention(384, 160*90)
	if err != nil || p.Chunk >= p.Lp || p.Chunk%8 != 0 || int64(p.Chunk)*int64(p.Lp)*6 > attnChunkBytes {
		t.Errorf("720p plan %+v, %v: want chunks bounded by %d bytes", p, err, attnChunkBytes)
	}
	for _, off := range []int64{p.qt, p.kt, p.vp, p.o, p.s, p.p} {
		if off%256 != 0 || off >= p.Bytes {
			t.Errorf("scratch offset %d of %d", off, p.Bytes)
		}
	}
	if n, err := FrameAttentionScratch(0, 10); err == nil || n != 0 {
		t.Errorf("FrameAttentionScratch(0, 10) = %d, %v", n, err)
	}
}

func TestFrameCopyChecks(t *testing.T) {
	ok := FrameCopy{Dst: fakeMem(1, 3*8*10*4), Src: fakeMem(2, 3*4*10*4), Type: gguf.TypeF32, C: 3, N: 4, Plane: 10,
		SrcT: 4, DstT: 8, DstT0: 1, DstStep: 2}
	if err := ok.check(); err != nil {
		t.Fatalf("valid copy rejected: %v", err)
	}
	bad := map[string]func(*FrameCopy){
		"source range":      func(f *FrameCopy) { f.SrcT0 = 1 },
		"destination range": func(f *FrameCopy) { f.DstT0 = 2 },
		"short source":      func(f *FrameCopy) { f.Src.Bytes -= 4 },
		"overlap":           func(f *FrameCopy) { f.Src.Ptr = f.Dst.Ptr + 16 },
		"zero step":         func(f *FrameCopy) { f.DstStep = 0 },
		"quantized":         func(f *FrameCopy) { f.Type = gguf.TypeQ4_0 },
	}
	for name, edit := range bad {
		f := ok
		edit(&f)
		if err := f.check(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, c := range []struct {
		bytes    int64
		dst, src uintptr
		want     string
	}{{64, 0, 256, "u128"}, {40, 0, 256, "u32"}, {64, 4, 0, "u32"}, {22, 0, 0, "u16"}} {
		if got, _ := copyWord(c.bytes, c.dst, c.src); got != c.want {
			t.Errorf("copyWord(%d, %#x, %#x) = %s, want %s", c.bytes, c.dst, c.src, got, c.want)
		}
	}
}
