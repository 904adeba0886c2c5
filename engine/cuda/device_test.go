//go:build cuda

package cuda

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/kernels"
)

// TestOpenErrorIsOneLine runs everywhere: without a GPU, Open must fail with one clear line (this is
// what a CUDA binary says on a machine with the driver but no GPU); with one, Info must be sane.
func TestOpenErrorIsOneLine(t *testing.T) {
	d, err := Open(Config{})
	if err != nil {
		singleLine(t, err)
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("Open error %v does not match ErrNoDevice", err)
		}
		if !strings.Contains(err.Error(), "nvidia-smi") && !strings.Contains(err.Error(), "CPU backend") {
			t.Errorf("Open error %q does not say what to do", err)
		}
		t.Logf("without a GPU Open says: %v", err)
		return
	}
	defer d.Close()
	i := d.Info()
	if i.Name == "" || i.SMs <= 0 || i.TotalMem <= 0 || i.Major < 8 {
		t.Errorf("implausible device info %+v", i)
	}
	if st := d.MemStats(); st.Limit <= 0 || st.Limit > i.FreeAtOpen {
		t.Errorf("budget %d not within (0, free %d]", st.Limit, i.FreeAtOpen)
	}
	t.Logf("device: %+v", i)
	if _, err := Open(Config{Ordinal: 99}); err == nil || !errors.Is(err, ErrNoDevice) {
		t.Errorf("Open(ordinal 99) = %v, want ErrNoDevice", err)
	} else {
		singleLine(t, err)
	}
}

func TestBudgetAndOwners(t *testing.T) {
	testDevice(t) // skip without a GPU
	const mib = 1 << 20
	d, err := Open(Config{MemCap: 64 * mib})
	must(t, err)
	defer d.Close()
	if got := d.MemStats().Limit; got != 64*mib {
		t.Fatalf("budget %d, want the 64 MiB cap", got)
	}
	a1, err := d.Alloc("model-a", 24*mib)
	must(t, err)
	_, err = d.Alloc("model-a", 16*mib+3)
	must(t, err)
	_, err = d.Alloc("model-b", 20*mib)
	must(t, err)
	_, err = d.Alloc("model-b", 8*mib)
	var be *BudgetError
	if !errors.As(err, &be) || !errors.Is(err, ErrOutOfBudget) {
		t.Fatalf("over-budget Alloc = %v, want a *BudgetError", err)
	}
	singleLine(t, err)
	st := d.MemStats()
	if st.InUse != 60*mib+3 || st.Peak != 60*mib+3 || st.ByOwner["model-a"] != 40*mib+3 || st.ByOwner["model-b"] != 20*mib || st.Allocs != 3 {
		t.Fatalf("stats %+v", st)
	}
	free0, _, err := d.MemInfo()
	must(t, err)
	freed, err := d.FreeOwner("model-a")
	must(t, err)
	if freed != 40*mib+3 {
		t.Errorf("FreeOwner freed %d, want %d", freed, 40*mib+3)
	}
	st = d.MemStats()
	if st.InUse != 20*mib || st.Peak != 60*mib+3 || st.ByOwner["model-a"] != 0 || st.Allocs != 1 {
		t.Errorf("after FreeOwner: %+v", st)
	}
	free1, _, err := d.MemInfo()
	must(t, err)
	if free1-free0 < 40*mib-2*mib {
		t.Errorf("the driver's free memory grew by %d after freeing 40 MiB", free1-free0)
	}
	must(t, a1.Free()) // double free is a no-op
	if _, err := d.Alloc("x", 0); err == nil {
		t.Error("Alloc of 0 bytes succeeded")
	}
	d.ResetPeak()
	if st := d.MemStats(); st.Peak != st.InUse {
		t.Errorf("ResetPeak: %+v", st)
	}
}

// TestConcurrentCallers checks the funnel: methods from many goroutines, and nested calls inside Do.
func TestConcurrentCallers(t *testing.T) {
	d := testDevice(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				b, err := d.Alloc("conc", int64(1024*(i+1)))
				if err != nil {
					errs <- err
					return
				}
				if err := b.Free(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := d.MemStats().ByOwner["conc"]; n != 0 {
		t.Errorf("%d bytes left for owner conc", n)
	}
	// Nested: methods called inside Do run directly instead of deadlocking.
	err := d.Do(func() error {
		b, err := d.Alloc("nested", 4096)
		if err != nil {
			return err
		}
		return d.Do(func() error { return b.Free() })
	})
	must(t, err)
	// A panic inside Do comes back as an error and the goroutine survives.
	err = d.Do(func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic in Do gave %v", err)
	}
	_, _, err = d.MemInfo()
	must(t, err)
}

func TestPinnedBudgetAndFallback(t *testing.T) {
	testDevice(t)
	const mib = 1 << 20
	d, err := Open(Config{PinnedCap: 4 * mib})
	must(t, err)
	defer d.Close()
	h, err := d.AllocPinned("slab", 3*mib)
	must(t, err)
	if h.Kind() != HostPinned || !h.Pinned() {
		t.Errorf("AllocPinned gave %v", h.Kind())
	}
	_, err = d.AllocPinned("slab", 2*mib)
	var pe *PinError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPinRefused) || !errors.Is(err, ErrOutOfBudget) {
		t.Fatalf("over-budget AllocPinned = %v, want a *PinError wrapping a budget error", err)
	}
	singleLine(t, err)
	p, err := d.AllocHost("slab", 2*mib)
	must(t, err)
	if p.Kind() != HostPageable {
		t.Errorf("AllocHost past the pinned budget gave %v, want pageable", p.Kind())
	}
	if st := d.PinnedStats(); st.InUse != 3*mib || st.ByOwner["slab"] != 3*mib {
		t.Errorf("pinned stats %+v", st)
	}
	// Copies work from both kinds.
	dev := alloc(t, d, 2*mib)
	r := rand.New(rand.NewPCG(1, 2))
	for _, hb := range []*HostBuffer{h, p} {
		src := hb.Bytes()[:2*mib]
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		must(t, d.CopyHtoD(nil, dev, hb, 0, 2*mib))
		must(t, d.CopyStream().Synchronize())
		got := make([]byte, 2*mib)
		must(t, d.Download(got, dev))
		if !bytes.Equal(got, src) {
			t.Errorf("round trip through %v memory differs", hb.Kind())
		}
	}
	freed, err := d.FreeHostOwner("slab")
	must(t, err)
	if freed != 5*mib {
		t.Errorf("FreeHostOwner freed %d", freed)
	}
	if st := d.PinnedStats(); st.InUse != 0 {
		t.Errorf("pinned in use after freeing: %+v", st)
	}
	// Pinning disabled.
	d2, err := Open(Config{PinnedCap: -1})
	must(t, err)
	defer d2.Close()
	if _, err := d2.AllocPinned("x", 4096); !errors.Is(err, ErrPinRefused) {
		t.Errorf("AllocPinned with pinning disabled = %v", err)
	}
	if h, err := d2.AllocHost("x", 4096); err != nil || h.Pinned() {
		t.Errorf("AllocHost with pinning disabled = %v, %v", h, err)
	}
}

func TestRegisterHostAndAsyncRoundTrip(t *testing.T) {
	d := testDevice(t)
	const n = 8 << 20
	m, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	must(t, err)
	defer syscall.Munmap(m)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range m {
		m[i] = byte(r.Uint32())
	}
	reg, err := d.RegisterHost("reg", m, false)
	must(t, err)
	if reg.Kind() != HostRegistered {
		t.Errorf("kind %v", reg.Kind())
	}
	back, err := d.AllocPinned("reg", n)
	must(t, err)
	dev := alloc(t, d, n)
	done, err := d.NewEvent(false)
	must(t, err)
	cs := d.CopyStream()
	must(t, d.CopyHtoD(cs, dev, reg, 0, n))
	must(t, d.CopyDtoH(cs, back, 0, dev, n))
	must(t, done.Record(cs))
	must(t, done.Synchronize())
	if ok, err := done.Done(); !ok || err != nil {
		t.Errorf("event not done after Synchronize: %v %v", ok, err)
	}
	if !bytes.Equal(back.Bytes(), m) {
		t.Error("registered → device → pinned round trip differs")
	}
	must(t, reg.Free())
	must(t, back.Free())
	if st := d.PinnedStats(); st.ByOwner["reg"] != 0 {
		t.Errorf("pinned left: %+v", st)
	}
	if err := d.CopyHtoD(nil, dev, reg, 0, 16); err == nil {
		t.Error("copy from a freed host buffer succeeded")
	}
}

// TestCorruptPTX: a damaged module gives one line naming the module and the remedy, and the device stays
// usable.
func TestCorruptPTX(t *testing.T) {
	d := testDevice(t)
	good, err := kernels.PTX("dequant")
	must(t, err)
	cases := map[string][]byte{
		"garbage":   []byte("this is not PTX at all"),
		"truncated": good[:len(good)/2],
		"badtarget": bytes.Replace(good, []byte(".target sm_80"), []byte(".target sm_999"), 1),
	}
	for name, img := range cases {
		var merr error
		must(t, d.Do(func() error {
			m := d.loadModule("corrupt-"+name, img)
			merr = m.err
			return nil
		}))
		singleLine(t, merr)
		if merr != nil && (!strings.Contains(merr.Error(), "corrupt-"+name) || !strings.Contains(merr.Error(), "make ptx")) {
			t.Errorf("%s: error %q does not name the module and the remedy", name, merr)
		}
		t.Logf("%s: %v", name, merr)
	}
	// The real module still loads and runs.
	x := upload(t, d, []float32{1, 2, 3, 4, 5, 6, 7, 8}, gguf.TypeF32)
	y := alloc(t, d, 16)
	must(t, d.Dequantize(nil, y, gguf.TypeBF16, x, gguf.TypeF32, 8))
	if got := download(t, d, y, 8, gguf.TypeBF16); got[7] != 8 {
		t.Errorf("after the corrupt modules, dequantize gave %v", got)
	}
}

// TestSyncModeNamesKernel runs a kernel that faults in a child process (a fault ruins the context): with
// WAN22_CUDA_SYNC=1 the error names the kernel; without it, the next synchronizing call says how to find it.
func TestSyncModeNamesKernel(t *testing.T) {
	if os.Getenv("WAN22_TEST_FAULT") == "1" {
		d, err := Open(Config{})
		if err != nil {
			println("FAULT-CHILD open:", err.Error())
			os.Exit(3)
		}
		x := alloc(t, d, 34*64)
		bad := Mem{Ptr: 0x10000, Bytes: 1 << 30} // not a device address
		err = d.Dequantize(nil, bad, gguf.TypeF32, x, gguf.TypeQ8_0, 32*64)
		if err == nil {
			err = d.Synchronize()
		}
		if err == nil {
			println("FAULT-CHILD: no error")
			os.Exit(4)
		}
		println("FAULT-CHILD error: " + err.Error())
		os.Exit(0)
	}
	testDevice(t)
	for _, sync := range []string{"1", "0"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSyncModeNamesKernel$")
		cmd.Env = append(os.Environ(), "WAN22_TEST_FAULT=1", "WAN22_CUDA_SYNC="+sync)
		out, err := cmd.CombinedOutput()
		s := string(out)
		if err != nil {
			t.Fatalf("child (sync=%s) failed: %v\n%s", sync, err, s)
		}
		var line string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "FAULT-CHILD error: ") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("child (sync=%s) printed no error:\n%s", sync, s)
		}
		t.Logf("sync=%s: %s", sync, line)
		if sync == "1" && !strings.Contains(line, "kernel dequant_q8_0_f32") {
			t.Errorf("sync mode error does not name the kernel: %s", line)
		}
		if sync == "0" && !strings.Contains(line, "WAN22_CUDA_SYNC=1") {
			t.Errorf("async error does not point at WAN22_CUDA_SYNC: %s", line)
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	d := testDevice(t)
	x := alloc(t, d, 1024)
	cases := []error{
		d.Gemm(nil, GemmOp{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 4, N: 4, K: 12}),    // K % 8
		d.Gemm(nil, GemmOp{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 64, N: 64, K: 64}),  // too small
		d.Gemm(nil, GemmOp{Y: x, YType: gguf.TypeQ8_0, X: x, W: x, M: 4, N: 4, K: 8}),     // output type
		d.Dequantize(nil, x, gguf.TypeF32, x, gguf.TypeQ8_0, 33),                          // not whole blocks
		d.Dequantize(nil, x, gguf.TypeF32, x, gguf.TypeIQ2_XXS, 256),                      // no kernel
		d.LayerNorm(nil, x, gguf.TypeF32, x, gguf.TypeBF16, 2, 64, 1e-6, LayerNormArgs{}), // overlap, types differ
		d.AddGated(nil, x, x, x, gguf.TypeF32, Mem{}, 2, 2, 0),                            // no gate
		d.Cast(nil, x, gguf.TypeF16, x, gguf.TypeF32, 4),                                  // f16 output
		d.Linear(nil, LinearOp{Y: x, YType: gguf.TypeF32, X: x, W: Weight{Mem: x, Type: gguf.TypeQ8_0, N: 0, K: 32}, M: 1}),
	}
	for i, err := range cases {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		singleLine(t, err)
	}
}
