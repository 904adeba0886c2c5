//go:build cuda

package cuda

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"gorgonia.org/cu"
)

// Info describes an open device.
type Info struct {
	Ordinal      int
	Name         string
	Major, Minor int   // compute capability
	SMs          int   // multiprocessors
	TotalMem     int64 // bytes
	FreeAtOpen   int64 // bytes free when the device was opened
	Driver       int   // CUDA driver API version, e.g. 13000
	CublasLt     string
}

// Device is an open CUDA device with its primary context, budgets, streams and loaded modules.
// See the package documentation for the threading model.
type Device struct {
	cfg  Config
	log  *slog.Logger
	info Info

	work   chan func()
	quit   chan struct{}
	exited chan struct{}
	tid    int
	closed atomic.Bool

	mem    *budget
	pinned *budget

	// Owned by the CUDA goroutine.
	dev      cu.Device
	ctx      cu.CUContext
	buffers  map[*Buffer]struct{}
	hosts    map[*HostBuffer]struct{}
	streams  []*Stream
	events   map[*Event]struct{}
	compute  *Stream
	copy     *Stream
	modules  map[string]*module
	kernels  map[string]*kernel
	lt       *cublasLt
	ltReason string
	scratch  *Buffer
	pinWarn  bool
}

// Open opens a device, makes its primary context current on a dedicated OS thread, sets up the budgets,
// the compute and copy streams and, when found, cuBLASLt. Failures are one-line errors that say what to do.
func Open(cfg Config) (*Device, error) {
	cfg = cfg.withEnv()
	d := &Device{
		cfg:     cfg,
		log:     cfg.Logger,
		work:    make(chan func()),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		buffers: map[*Buffer]struct{}{},
		hosts:   map[*HostBuffer]struct{}{},
		events:  map[*Event]struct{}{},
		modules: map[string]*module{},
		kernels: map[string]*kernel{},
	}
	started := make(chan error, 1)
	go d.loop(started)
	if err := <-started; err != nil {
		<-d.exited
		return nil, err
	}
	i := d.info
	d.log.Info("CUDA device opened", "ordinal", i.Ordinal, "name", i.Name, "cc", fmt.Sprintf("%d.%d", i.Major, i.Minor),
		"sms", i.SMs, "memory", FormatBytes(i.TotalMem), "budget", FormatBytes(d.mem.limit),
		"pinned_budget", FormatBytes(d.pinned.limit), "driver", i.Driver, "cublaslt", d.cublasLtState(), "sync", cfg.Sync)
	return d, nil
}

// loop is the CUDA goroutine: it owns the OS thread on which the context is current and runs every job.
func (d *Device) loop(started chan<- error) {
	defer close(d.exited)
	// The goroutine stays locked until it exits, which also ends the thread: no other goroutine ever runs
	// on a thread where the context is current.
	runtime.LockOSThread()
	d.tid = syscall.Gettid()
	if err := d.init(); err != nil {
		d.release()
		started <- err
		return
	}
	started <- nil
	for {
		select {
		case job := <-d.work:
			job()
		case <-d.quit:
			return
		}
	}
}

func (d *Device) init() error {
	if st := int(C.wan22_init_status()); st != 0 {
		e := cuErr("cuInit", C.int(st))
		hint := "check the NVIDIA driver and GPU with nvidia-smi, or use the CPU backend"
		if st == cuNoDevice {
			return fmt.Errorf("%w: the NVIDIA driver found no CUDA-capable GPU (cuInit: CUDA_ERROR_NO_DEVICE); %s", ErrNoDevice, hint)
		}
		return fmt.Errorf("%w: %v; %s", ErrNoDevice, e, hint)
	}
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDevice, wrap("cuDeviceGetCount", err))
	}
	if n == 0 {
		return fmt.Errorf("%w: the driver reports 0 devices; check nvidia-smi, or use the CPU backend", ErrNoDevice)
	}
	if d.cfg.Ordinal < 0 || d.cfg.Ordinal >= n {
		return fmt.Errorf("%w: device %d requested, the driver reports %d (0..%d)", ErrNoDevice, d.cfg.Ordinal, n, n-1)
	}
	dev, err := cu.GetDevice(d.cfg.Ordinal)
	if err != nil {
		return wrap(fmt.Sprintf("cuDeviceGet(%d)", d.cfg.Ordinal), err)
	}
	d.dev = dev
	info := Info{Ordinal: d.cfg.Ordinal, Driver: cu.Version()}
	if info.Name, err = dev.Name(); err != nil {
		return wrap("cuDeviceGetName", err)
	}
	attr := func(a cu.DeviceAttribute, p *int, name string) error {
		v, err := dev.Attribute(a)
		*p = v
		return wrap("cuDeviceGetAttribute("+name+")", err)
	}
	if err := errors.Join(attr(cu.ComputeCapabilityMajor, &info.Major, "major"), attr(cu.ComputeCapabilityMinor, &info.Minor, "minor"),
		attr(cu.MultiprocessorCount, &info.SMs, "sms")); err != nil {
		return err
	}
	if info.Major < 8 {
		return fmt.Errorf("%w: %s has compute capability %d.%d; wan22's kernels need 8.0 (Ampere) or newer", ErrNoDevice, info.Name, info.Major, info.Minor)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return wrap("cuDevicePrimaryCtxRetain", err)
	}
	d.ctx = ctx
	if err := wrap("cuCtxSetCurrent", cu.SetCurrentContext(ctx)); err != nil {
		return err
	}
	free, total, err := cu.MemInfo()
	if err != nil {
		return wrap("cuMemGetInfo", err)
	}
	info.TotalMem, info.FreeAtOpen = total, free
	d.mem = newBudget("device memory", deviceBudget(d.cfg.MemCap, free, d.cfg.Reserve))
	d.pinned = newBudget("pinned host memory", pinnedBudget(d.cfg.PinnedCap))
	if d.compute, err = d.newStream("compute"); err != nil {
		return err
	}
	if d.copy, err = d.newStream("copy"); err != nil {
		return err
	}
	d.lt, d.ltReason = loadCublasLt(d.cfg.CublasLt, d.log)
	info.CublasLt = d.cublasLtState()
	d.info = info
	return nil
}

// pinnedBudget resolves Config.PinnedCap: 0 → half of physical memory, < 0 → none.
func pinnedBudget(c int64) int64 {
	if c < 0 {
		return 0
	}
	if c > 0 {
		return c
	}
	if t := physicalMemory(); t > 0 {
		return t / 2
	}
	return 8 << 30
}

// physicalMemory reads MemTotal from /proc/meminfo (0 when unknown).
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Info returns the device's description.
func (d *Device) Info() Info { return d.info }

// Do runs fn on the CUDA goroutine and returns its error. Called from inside another Do (or from any
// method running there) it runs fn directly. A panic in fn is returned as an error.
func (d *Device) Do(fn func() error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if syscall.Gettid() == d.tid {
		return d.run(fn)
	}
	res := make(chan error, 1)
	select {
	case d.work <- func() { res <- d.run(fn) }:
	case <-d.quit:
		return ErrClosed
	}
	return <-res
}

func (d *Device) run(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cuda: panic on the CUDA goroutine: %v", r)
		}
	}()
	return fn()
}

// Synchronize waits for all work on the device and reports an error from any of it.
func (d *Device) Synchronize() error {
	return d.Do(func() error { return asyncErr(wrap("cuCtxSynchronize", cu.Synchronize())) })
}

// asyncErr adds the debugging hint to an error that surfaced from earlier asynchronous work.
func asyncErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w; an earlier kernel or copy failed: run with WAN22_CUDA_SYNC=1 to name it", err)
}

// Close frees every allocation, pinned buffer, stream, event and module and releases the context.
// The Device is unusable afterwards.
func (d *Device) Close() error {
	if d == nil || d.closed.Load() {
		return nil
	}
	err := d.Do(func() error { return d.release() })
	d.closed.Store(true)
	close(d.quit)
	<-d.exited
	return err
}

// release undoes init and every allocation; it runs on the CUDA goroutine.
func (d *Device) release() error {
	var errs []error
	if d.ctx != (cu.CUContext{}) {
		errs = append(errs, asyncErr(wrap("cuCtxSynchronize", cu.Synchronize())))
	}
	for b := range d.buffers {
		errs = append(errs, b.free())
	}
	for h := range d.hosts {
		errs = append(errs, h.free())
	}
	for e := range d.events {
		errs = append(errs, e.destroy())
	}
	if d.lt != nil {
		d.lt.close()
		d.lt = nil
	}
	for _, m := range d.modules {
		if m.handle != nil {
			errs = append(errs, cuErr("cuModuleUnload("+m.name+")", C.wan22_module_unload(m.handle)))
		}
	}
	d.modules, d.kernels = map[string]*module{}, map[string]*kernel{}
	for _, s := range d.streams {
		errs = append(errs, wrap("cuStreamDestroy("+s.name+")", s.s.Destroy()))
	}
	d.streams = nil
	if d.ctx != (cu.CUContext{}) {
		errs = append(errs, wrap("cuDevicePrimaryCtxRelease", d.dev.ReleasePrimaryCtx()))
		d.ctx = cu.CUContext{}
	}
	return errors.Join(errs...)
}
