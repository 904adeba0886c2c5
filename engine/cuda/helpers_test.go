//go:build cuda

package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/wan22/wan22/gguf"
)

var (
	sharedOnce sync.Once
	sharedDev  *Device
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDev != nil {
		if err := sharedDev.Close(); err != nil {
			println("closing the test device:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// testDevice returns the device shared by the tests, or skips when there is no GPU.
func testDevice(t testing.TB) *Device {
	t.Helper()
	sharedOnce.Do(func() { sharedDev, sharedErr = Open(Config{}) })
	if sharedErr != nil {
		if errors.Is(sharedErr, ErrNoDevice) {
			t.Skipf("no GPU: %v", sharedErr)
		}
		t.Fatalf("Open: %v", sharedErr)
	}
	return sharedDev
}

// alloc allocates a test buffer that is freed when the test ends.
func alloc(t testing.TB, d *Device, n int64) Mem {
	t.Helper()
	b, err := d.Alloc("test", n)
	if err != nil {
		t.Fatalf("Alloc(%d): %v", n, err)
	}
	t.Cleanup(func() { _ = b.Free() })
	return b.Mem()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func singleLine(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err.Error())
	}
}

// randF32 returns n values with magnitudes spread over several decades and both signs.
func randF32(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func toBF16(x []float32) []uint16 {
	out := make([]uint16, len(x))
	for i, v := range x {
		out[i] = gguf.F32ToBF16(v)
	}
	return out
}

func fromBF16(x []uint16) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = gguf.BF16ToF32(v)
	}
	return out
}

// roundBF16 rounds every value to bf16 precision.
func roundBF16(x []float32) []float32 { return fromBF16(toBF16(x)) }

// upload puts values of type t (F32 or BF16) in a new device buffer.
func upload(t testing.TB, d *Device, x []float32, typ gguf.Type) Mem {
	t.Helper()
	m := alloc(t, d, int64(len(x))*elemBytes(typ))
	if typ == gguf.TypeBF16 {
		must(t, d.UploadU16(m, toBF16(x)))
	} else {
		must(t, d.UploadF32(m, x))
	}
	return m
}

// download reads n values of type t (F32 or BF16) as float32.
func download(t testing.TB, d *Device, m Mem, n int, typ gguf.Type) []float32 {
	t.Helper()
	if typ == gguf.TypeBF16 {
		u := make([]uint16, n)
		must(t, d.DownloadU16(u, m))
		return fromBF16(u)
	}
	f := make([]float32, n)
	must(t, d.DownloadF32(f, m))
	return f
}

// poison fills m with NaNs of type t so that unwritten outputs show.
func poison(t testing.TB, d *Device, m Mem, typ gguf.Type) {
	t.Helper()
	if typ == gguf.TypeBF16 {
		must(t, d.Memset16(nil, m, 0x7fc1))
	} else {
		must(t, d.Memset32(nil, m, 0x7fc00001))
	}
}

// relL2 is ‖got − want‖ / ‖want‖; NaN or Inf in got gives +Inf.
func relL2(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - want[i]) * (g - want[i])
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// tolFor is the relative L2 tolerance for an op's output type: float32 arithmetic, or one bf16 rounding.
func tolFor(t gguf.Type) float64 {
	if t == gguf.TypeBF16 {
		return 4e-3
	}
	return 1e-5
}
