package main

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/wan22/wan22"
)

func TestCheckGiB(t *testing.T) {
	for _, v := range []float64{0, 0.5, 32, 80} {
		if err := checkGiB("-vram", v, 0); err != nil {
			t.Errorf("%g: %v", v, err)
		}
	}
	for _, c := range []struct {
		v    float64
		max  float64
		want string
	}{
		{math.NaN(), 0, "-vram NaN is out of range: want GiB from 0 to 1048576"},
		{math.Inf(1), 0, "-vram +Inf is out of range"},
		{math.Inf(-1), 0, "-vram -Inf is out of range"},
		{1e30, 0, "-vram 1e+30 is out of range"},
		{-1, 0, "-vram -1 is out of range"},
		{65, 64, "-vram 65 is out of range: want GiB from 0 to 64"},
	} {
		err := checkGiB("-vram", c.v, c.max)
		var fe *FlagRangeError
		if !errors.As(err, &fe) || fe.Flag != "-vram" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%g (max %g): %v, want a FlagRangeError containing %q", c.v, c.max, err, c.want)
		}
	}
}

func TestCheckIntAndFloat(t *testing.T) {
	if err := checkInt("-layers", 40, 1, 200, ""); err != nil {
		t.Error(err)
	}
	err := checkInt("-layers", 1000000000, 1, 200, "the A14B experts have 40")
	if err == nil || err.Error() != "-layers 1000000000 is out of range: want 1 to 200 (the A14B experts have 40)" {
		t.Errorf("got %v", err)
	}
	if err := checkFloat("-shift", 5, 0, 100); err != nil {
		t.Error(err)
	}
	if err := checkFloat("-shift", math.NaN(), 0, 100); err == nil || !strings.Contains(err.Error(), "-shift NaN") {
		t.Errorf("NaN: %v", err)
	}
}

func TestFormatGB(t *testing.T) {
	for n, want := range map[int64]string{15_420_000_000: "15.42 GB", 240_130_000: "240.13 MB", 2_500: "2.50 kB", 912: "912 bytes"} {
		if got := formatGB(n); got != want {
			t.Errorf("formatGB(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCheckAttention(t *testing.T) {
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	for _, hasCUDA := range []bool{false, true} {
		cudaAvailable = func() bool { return hasCUDA }
		// bf16 (any case, or empty) runs everywhere.
		for _, v := range []string{"", "bf16", "BF16"} {
			for _, d := range []string{"cpu", "cuda", "auto"} {
				if a, err := checkAttention(v, d); err != nil || a != wan22.AttentionBF16 {
					t.Errorf("cuda %v: %q on %s: %q, %v", hasCUDA, v, d, a, err)
				}
			}
		}
		// A value that is none of them fails with the parser's words, whatever the device.
		if _, err := checkAttention("int4", "cuda"); err == nil || err.Error() != `--attention: attention precision "int4" not understood: use bf16 (default), int8 or fp8` {
			t.Errorf("int4: %v", err)
		}
		// 8-bit attention: never on the CPU; on cuda or auto only in a CUDA binary.
		for _, v := range []string{"int8", "FP8"} {
			_, err := checkAttention(v, "cpu")
			if err == nil || !strings.Contains(err.Error(), "8-bit attention needs the CUDA backend, and --device cpu") {
				t.Errorf("%s on the CPU: %v", v, err)
			}
			for _, d := range []string{"cuda", "auto"} {
				a, err := checkAttention(v, d)
				switch {
				case hasCUDA && (err != nil || string(a) != strings.ToLower(v)):
					t.Errorf("%s on %s: %q, %v", v, d, a, err)
				case !hasCUDA && (err == nil || !strings.Contains(err.Error(), "built without CUDA")):
					t.Errorf("%s on %s without CUDA: %v", v, d, err)
				}
			}
		}
	}
}
