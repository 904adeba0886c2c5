package cuda

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wan22/wan22/gguf"
)

func TestBudgetAccounting(t *testing.T) {
	b := newBudget("device memory", 100)
	if err := b.reserve("a", 60); err != nil {
		t.Fatal(err)
	}
	if err := b.reserve("b", 30); err != nil {
		t.Fatal(err)
	}
	err := b.reserve("b", 11)
	var be *BudgetError
	if !errors.As(err, &be) || !errors.Is(err, ErrOutOfBudget) || be.Request != 11 || be.InUse != 90 || be.Limit != 100 {
		t.Fatalf("over-budget reserve = %#v", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("budget error %q", err)
	}
	if err := b.reserve("b", 10); err != nil { // exactly to the limit
		t.Fatal(err)
	}
	b.release("a", 60)
	st := b.stats()
	if st.InUse != 40 || st.Peak != 100 || st.Allocs != 2 || st.ByOwner["a"] != 0 || st.ByOwner["b"] != 40 {
		t.Errorf("stats %+v", st)
	}
	if got := st.Owners(); len(got) != 1 || got[0] != "b" {
		t.Errorf("owners %v", got)
	}
	b.resetPeak()
	if b.stats().Peak != 40 {
		t.Error("resetPeak")
	}
	if err := b.reserve("c", -1); err == nil {
		t.Error("negative reservation accepted")
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b := newBudget("device memory", 1<<40)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if err := b.reserve("x", 3); err != nil {
					t.Error(err)
					return
				}
				b.release("x", 3)
			}
		}()
	}
	wg.Wait()
	if st := b.stats(); st.InUse != 0 || st.Allocs != 0 || len(st.ByOwner) != 0 {
		t.Errorf("after balanced reserve/release: %+v", st)
	}
}

func TestDeviceBudget(t *testing.T) {
	const g = 1 << 30
	for _, c := range []struct{ cap, free, reserve, want int64 }{
		{0, 80 * g, g / 2, 80*g - g/2},
		{16 * g, 80 * g, g / 2, 16 * g},
		{100 * g, 80 * g, g / 2, 80*g - g/2},
		{0, g / 4, g / 2, 0},
	} {
		if got := deviceBudget(c.cap, c.free, c.reserve); got != c.want {
			t.Errorf("deviceBudget(%d, %d, %d) = %d, want %d", c.cap, c.free, c.reserve, got, c.want)
		}
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	errs := []error{
		ErrNotBuilt, ErrNoDevice,
		&Error{Call: "cuMemAlloc(1.00 GiB)", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Desc: "out of memory"},
		&PinError{Size: 1 << 30, Err: &BudgetError{What: "pinned host memory", Owner: "dit", Request: 1 << 30, Limit: 1 << 20}},
		&PinError{Size: 1 << 30, Err: &Error{Call: "cuMemHostAlloc(1.00 GiB)", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}},
	}
	for _, e := range errs {
		// (ErrNoDevice has no prefix: TestNoDeviceWords)
		if s := e.Error(); s == "" || strings.Contains(s, "\n") || !strings.HasPrefix(s, "cuda: ") && e != ErrNoDevice {
			t.Errorf("error %q is not one line starting with cuda:", s)
		}
	}
	pe := errs[4].(*PinError)
	if !errors.Is(pe, ErrPinRefused) || !strings.Contains(pe.Error(), "ulimit -l") {
		t.Errorf("driver pin refusal %q", pe)
	}
	if !errors.Is(errs[3], ErrOutOfBudget) {
		t.Error("a PinError over budget does not match ErrOutOfBudget")
	}
	if FormatBytes(1536<<20) != "1.50 GiB" || FormatBytes(100) != "100 B" {
		t.Errorf("FormatBytes: %s %s", FormatBytes(1536<<20), FormatBytes(100))
	}
}

func TestArgumentChecks(t *testing.T) {
	big := Mem{Ptr: 1 << 20, Bytes: 1 << 30}
	ok := GemmOp{Y: big, YType: gguf.TypeBF16, X: big, W: big, M: 5, N: 7, K: 16}
	if err := checkGemm(ok); err != nil {
		t.Fatalf("valid gemm rejected: %v", err)
	}
	ok.Bias, ok.BiasType = big, gguf.TypeBF16
	if err := checkGemm(ok); err != nil {
		t.Fatalf("valid gemm with bias rejected: %v", err)
	}
	bad := []GemmOp{
		{Y: big, YType: gguf.TypeBF16, X: big, W: big, M: 5, N: 7, K: 12},
		{Y: big, YType: gguf.TypeF16, X: big, W: big, M: 5, N: 7, K: 16},
		{Y: big, YType: gguf.TypeBF16, X: Mem{Ptr: 1 << 20, Bytes: 10}, W: big, M: 5, N: 7, K: 16},
		{Y: big, YType: gguf.TypeBF16, X: Mem{Ptr: 1<<20 + 2, Bytes: 1 << 20}, W: big, M: 5, N: 7, K: 16},
		{Y: big, YType: gguf.TypeBF16, X: big, W: big, Bias: big, BiasType: gguf.TypeQ8_0, M: 5, N: 7, K: 16},
		{Y: big, YType: gguf.TypeBF16, X: big, W: big, Bias: big, BiasType: gguf.TypeF32, M: 5, N: 7, K: 16},
		{Y: big, YType: gguf.TypeBF16, X: big, W: big, M: 0, N: 7, K: 16},
	}
	for i, op := range bad {
		if err := checkGemm(op); err == nil {
			t.Errorf("bad gemm %d accepted", i)
		}
	}
	if _, err := checkDequant(big, gguf.TypeF32, big, gguf.TypeQ4_K, 255); err == nil {
		t.Error("dequantize of a partial Q4_K block accepted")
	}
	if n, err := checkDequant(big, gguf.TypeBF16, big, gguf.TypeQ4_K, 512); err != nil || n != 288 {
		t.Errorf("checkDequant(Q4_K, 512) = %d, %v", n, err)
	}
	for typ := range dequantizable {
		if !gguf.CanDequantize(typ) {
			t.Errorf("GPU kernel for %v that the CPU cannot check", typ)
		}
	}
	if err := checkModulation("scale", Mem{Ptr: 1, Bytes: 4 * 10}, 3, 4, 3); err != nil {
		t.Errorf("modulation of exactly the needed size rejected: %v", err)
	}
	if err := checkModulation("scale", Mem{Ptr: 1, Bytes: 4 * 9}, 3, 4, 3); err == nil {
		t.Error("short modulation accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("out-of-range Slice did not panic")
			}
		}()
		_ = Mem{Ptr: 16, Bytes: 8}.Slice(4, 8)
	}()
	if s := (Mem{Ptr: 16, Bytes: 8}).Slice(4, 4); s.Ptr != 20 || s.Bytes != 4 {
		t.Errorf("Slice = %+v", s)
	}
}
