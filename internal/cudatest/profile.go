//go:build cuda

package cudatest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cuda"
)

// Profiler wraps the CUDA backend and times every op with CUDA events, synchronizing after each, so the
// times are the device work of each op without the gaps in which the GPU waits for the host. It implements
// engine.Backend, the DiT's row-add fast path and umT5's device-built position bias; ops are grouped by
// name, Linear and Attention by shape.
type Profiler struct {
	*cuda.Backend
	t          testing.TB
	start, end *cuda.Event
	MS         map[string]float64 // summed milliseconds per group
	Calls      map[string]int
	// Off passes the ops through untimed (the wrapped model runs at full speed).
	Off bool
}

// NewProfiler wraps b for the test.
func NewProfiler(t testing.TB, b *cuda.Backend) *Profiler {
	t.Helper()
	start, err := b.Device().NewEvent(true)
	if err != nil {
		t.Fatal(err)
	}
	end, err := b.Device().NewEvent(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = start.Destroy(), end.Destroy() })
	return &Profiler{Backend: b, t: t, start: start, end: end, MS: map[string]float64{}, Calls: map[string]int{}}
}

// Time runs f, which queues work on the compute stream, and returns its device time in milliseconds.
func (p *Profiler) Time(f func()) float64 {
	if err := p.start.Record(nil); err != nil {
		p.t.Fatal(err)
	}
	f()
	if err := p.end.Record(nil); err != nil {
		p.t.Fatal(err)
	}
	if err := p.end.Synchronize(); err != nil {
		p.t.Fatal(err)
	}
	d, err := p.start.Elapsed(p.end)
	if err != nil {
		p.t.Fatal(err)
	}
	return float64(d) / float64(time.Millisecond)
}

func (p *Profiler) add(group string, f func()) {
	if p.Off {
		f()
		return
	}
	p.MS[group] += p.Time(f)
	p.Calls[group]++
}

func byShape(op string, ts ...engine.Tensor) string {
	parts := make([]string, len(ts))
	for i, x := range ts {
		parts[i] = fmt.Sprint(x.Shape())
	}
	return op + " " + strings.Join(parts, "·")
}

// Total is the summed time of every op so far.
func (p *Profiler) Total() float64 {
	var s float64
	for _, ms := range p.MS {
		s += ms
	}
	return s
}

// Report logs the groups, largest first.
func (p *Profiler) Report(title string) {
	names := make([]string, 0, len(p.MS))
	for n := range p.MS {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(math.Copysign(1, p.MS[b]-p.MS[a])) })
	total := p.Total()
	p.t.Logf("%s: %.2f ms of device work in %d groups of ops", title, total, len(names))
	for _, n := range names {
		p.t.Logf("  %8.3f ms %5.1f%% %4d× %s", p.MS[n], 100*p.MS[n]/total, p.Calls[n], n)
	}
}

func (p *Profiler) FromHost(d []float32, shape ...int) (y engine.Tensor) {
	p.add("FromHost", func() { y = p.Backend.FromHost(d, shape...) })
	return y
}
func (p *Profiler) Cast(x engine.Tensor, d engine.DType) (y engine.Tensor) {
	p.add("Cast", func() { y = p.Backend.Cast(x, d) })
	return y
}
func (p *Profiler) Linear(x, w, bias engine.Tensor) (y engine.Tensor) {
	p.add(byShape("Linear", x, w), func() { y = p.Backend.Linear(x, w, bias) })
	return y
}

// LinearLoRA times the CUDA backend's fused LoRA linear (engine/dit's LoRALinear fast path), grouped by
// the shapes of x, w and the adapter's down matrix (its rank), so a profile tells the ranks apart.
func (p *Profiler) LinearLoRA(x, w, bias, down, up engine.Tensor, gelu bool) (y engine.Tensor) {
	p.add(byShape("LinearLoRA", x, w, down), func() { y = p.Backend.LinearLoRA(x, w, bias, down, up, gelu) })
	return y
}
func (p *Profiler) LayerNorm(x, w, bias engine.Tensor, eps float32) (y engine.Tensor) {
	p.add("LayerNorm", func() { y = p.Backend.LayerNorm(x, w, bias, eps) })
	return y
}
func (p *Profiler) RMSNorm(x, w engine.Tensor, eps float32) (y engine.Tensor) {
	p.add("RMSNorm", func() { y = p.Backend.RMSNorm(x, w, eps) })
	return y
}
func (p *Profiler) Modulate(x, shift, scale engine.Tensor) (y engine.Tensor) {
	p.add("Modulate", func() { y = p.Backend.Modulate(x, shift, scale) })
	return y
}
func (p *Profiler) AddGated(x, y, gate engine.Tensor) {
	p.add("AddGated", func() { p.Backend.AddGated(x, y, gate) })
}
func (p *Profiler) AddGatedRows(x, y, gate engine.Tensor, from int) {
	p.add("AddGatedRows", func() { p.Backend.AddGatedRows(x, y, gate, from) })
}
func (p *Profiler) Add(a, b engine.Tensor) (y engine.Tensor) {
	p.add("Add", func() { y = p.Backend.Add(a, b) })
	return y
}
func (p *Profiler) Mul(a, b engine.Tensor) (y engine.Tensor) {
	p.add("Mul", func() { y = p.Backend.Mul(a, b) })
	return y
}
func (p *Profiler) GELU(x engine.Tensor) (y engine.Tensor) {
	p.add("GELU", func() { y = p.Backend.GELU(x) })
	return y
}
func (p *Profiler) SiLU(x engine.Tensor) (y engine.Tensor) {
	p.add("SiLU", func() { y = p.Backend.SiLU(x) })
	return y
}
func (p *Profiler) Rows(t engine.Tensor, ids []int32) (y engine.Tensor) {
	p.add("Rows", func() { y = p.Backend.Rows(t, ids) })
	return y
}
func (p *Profiler) Slice(x engine.Tensor, from, to int) (y engine.Tensor) {
	p.add("Slice", func() { y = p.Backend.Slice(x, from, to) })
	return y
}
func (p *Profiler) Concat(ts ...engine.Tensor) (y engine.Tensor) {
	p.add("Concat", func() { y = p.Backend.Concat(ts...) })
	return y
}
func (p *Profiler) Attention(q, k, v engine.Tensor, o engine.AttentionOpts) (y engine.Tensor) {
	p.add(byShape("Attention", q, k), func() { y = p.Backend.Attention(q, k, v, o) })
	return y
}
func (p *Profiler) RotatePairs(x, cos, sin engine.Tensor, heads int) {
	p.add("RotatePairs", func() { p.Backend.RotatePairs(x, cos, sin, heads) })
}

// RelPosBias is engine/t5's device fast path for its relative-position bias.
func (p *Profiler) RelPosBias(table []float32, buckets []int32, heads, lq, lk int) (y engine.Tensor) {
	p.add("RelPosBias", func() { y = p.Backend.RelPosBias(table, buckets, heads, lq, lk) })
	return y
}

var _ engine.Backend = (*Profiler)(nil)
