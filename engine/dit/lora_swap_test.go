package dit

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// slabSwapper is a CPU backend that swaps blocks the way the CUDA one does
// as far as the model can tell: NewSwap keeps a host slab per swapped block,
// the block's slab view copies each tensor of its layout into the slab at its
// offset (its size checked against the layout) and Loaded checks that every
// entry was filled; uploads go through the recording fake, after checking
// that the block fits the slot. The tensors themselves are ordinary CPU
// weights, so the model computes as usual. Weights made on the backend
// itself (resident memory) are recorded by name.
type slabSwapper struct {
	*cpu.Backend
	vram     int64
	fake     *blockswap.Fake
	set      *slabSet
	resident map[string]int64 // weights made on the backend itself: name → bytes
}

func newSlabSwapper(vram int64) *slabSwapper {
	return &slabSwapper{Backend: cpu.New(), vram: vram, fake: blockswap.NewFake(), resident: map[string]int64{}}
}

func (s *slabSwapper) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	s.resident[info.Name] = int64(len(data))
	return s.Backend.Weight(info, data)
}

func (s *slabSwapper) SwapBudgets() (int64, int64, error) { return s.vram, 1 << 40, nil }

func (s *slabSwapper) NewSwap(p blockswap.Plan, layouts []engine.SlabLayout) (engine.SwapSet, error) {
	set := &slabSet{Fake: s.fake, b: s.Backend, plan: p, layouts: layouts,
		slabs: make([][]byte, len(layouts)), filled: make([]map[string]bool, len(layouts))}
	for i, l := range layouts {
		if !p.Resident[i] {
			set.slabs[i] = make([]byte, l.Bytes)
			set.filled[i] = map[string]bool{}
		}
	}
	s.set = set
	return set, nil
}

type slabSet struct {
	*blockswap.Fake
	b       *cpu.Backend
	plan    blockswap.Plan
	layouts []engine.SlabLayout
	slabs   [][]byte
	filled  []map[string]bool
	closed  bool
}

func (s *slabSet) Backend(i int) engine.Backend { return &slabView{Backend: s.b, set: s, block: i} }

func (s *slabSet) Upload(slot blockswap.Slot, block int, after blockswap.Fence) (blockswap.Fence, error) {
	if n := s.layouts[block].Bytes; n > slot.Bytes() {
		return nil, fmt.Errorf("block %d (%d bytes) does not fit a slot of %d", block, n, slot.Bytes())
	}
	return s.Fake.Upload(slot, block, after)
}

func (s *slabSet) Loaded() error {
	for i, l := range s.layouts {
		for _, e := range l.Tensors {
			if !s.plan.Resident[i] && !s.filled[i][e.Name] {
				return fmt.Errorf("slab entry %q of block %d was never filled", e.Name, i)
			}
		}
	}
	return nil
}

func (s *slabSet) FromFile() bool { return false }

func (s *slabSet) HostBytes() int64 {
	var n int64
	for _, h := range s.slabs {
		n += int64(len(h))
	}
	return n
}

func (s *slabSet) Close() error { s.closed = true; return nil }

// entry returns the layout entry of name in block i's slab and its bytes.
func (s *slabSet) entry(i int, name string) (engine.SlabTensor, []byte, bool) {
	for _, e := range s.layouts[i].Tensors {
		if e.Name == name {
			return e, s.slabs[i][e.Offset : e.Offset+e.Bytes], true
		}
	}
	return engine.SlabTensor{}, nil, false
}

type slabView struct {
	*cpu.Backend
	set   *slabSet
	block int
}

func (v *slabView) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	if e, slab, ok := v.set.entry(v.block, info.Name); ok {
		if int64(len(data)) != e.Bytes {
			engine.Failf("Weight", "tensor %q: %d bytes, the slab layout has %d", info.Name, len(data), e.Bytes)
		}
		copy(slab, data)
		v.set.filled[v.block][info.Name] = true
	}
	return v.Backend.Weight(info, data)
}

// writeLoRA writes l in the comfy style into dir and opens it.
func writeLoRA(t *testing.T, l testLoRA, name string) (path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name+".safetensors")
	l.write(t, path, keyStyles[0])
	return path
}

// TestLoRAPackedInSlabs: LoRAs given to LoadForRun on a model with swapped
// blocks put those blocks' adapters into their slabs (the layouts, the
// planner's block bytes and the slots grow by exactly their padded size,
// and the slab bytes are the adapters'), nothing of them is made in resident
// memory, the schedule's fences and slot reuse hold, and the output equals
// the resident model with the same LoRAs attached. DetachLoRAs restores the
// plain model and a LoRA attached afterwards takes the resident path.
func TestLoRAPackedInSlabs(t *testing.T) {
	src, cfg := fourBlocks(t)
	// Stacked on blocks.0.ffn.0, blocks.1.self_attn.q and blocks.3.ffn.0 (rank 4+3 → 8 padded).
	l1 := newTestLoRA(cfg, 4, 4, 201, "blocks.0.ffn.0", "blocks.1.self_attn.q", "blocks.1.ffn.2",
		"blocks.2.cross_attn.o", "blocks.3.ffn.0", "blocks.3.self_attn.v", "head.head")
	l2 := newTestLoRA(cfg, 3, 0, 202, "blocks.1.self_attn.q", "blocks.3.ffn.0", "blocks.0.ffn.0")
	f1, f2 := openLoRA(t, writeLoRA(t, l1, "l1")), openLoRA(t, writeLoRA(t, l2, "l2"))
	loras := []LoadLoRA{{File: f1, Strength: 0.8}, {File: f2, Strength: 1.3}}

	run := Run{Grid: Grid{T: 2, H: 4, W: 6}, LoRAs: loras}
	plain, _, err := planInputs(newView(src), cfg, Run{Grid: run.Grid}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := planInputs(newView(src), cfg, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The expected slab entries of each block, computed here from the adapters' shapes.
	wantEntries := make([]map[string]int64, cfg.Layers)
	for i := range wantEntries {
		wantEntries[i] = map[string]int64{}
	}
	ranks := map[string]int{}
	for _, l := range []testLoRA{l1, l2} {
		for _, a := range l.adapters {
			ranks[a.module] += a.rank
		}
	}
	for _, a := range l1.adapters {
		blk, ok := blockIndex(a.module)
		if !ok {
			continue
		}
		padded := int64((ranks[a.module] + 7) / 8 * 8)
		wantEntries[blk][a.module+".lora_down"] = padded * int64(a.in) * 4 // F32 on the CPU backend
		wantEntries[blk][a.module+".lora_up"] = int64(a.out) * padded * 4
	}
	for i := range cfg.Layers {
		var grow int64
		for _, n := range wantEntries[i] {
			grow += (n + engine.SlabAlign - 1) / engine.SlabAlign * engine.SlabAlign
		}
		if in.BlockBytes[i] != plain.BlockBytes[i]+grow {
			t.Errorf("block %d: planned %d bytes with the LoRAs, %d without: want %d more (its adapters)", i, in.BlockBytes[i], plain.BlockBytes[i], grow)
		}
	}
	head := l1.adapters[len(l1.adapters)-1]
	if want := plain.FixedBytes + int64(8*(head.in+head.out)*4); in.FixedBytes != want {
		t.Errorf("fixed bytes %d with the LoRAs, want %d (the head's adapter added)", in.FixedBytes, want)
	}

	// The reference: every block resident, the same LoRAs attached after loading.
	ref, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Free()
	wantPlain := forwardOf(t, ref)
	for _, l := range loras {
		if err := ref.AttachLoRA(l.File, l.Strength); err != nil {
			t.Fatal(err)
		}
	}
	want := forwardOf(t, ref)

	b := newSlabSwapper(blockswap.MinVRAM(in) + slices.Max(in.BlockBytes))
	m, err := LoadForRun(context.Background(), b, src, run)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	plan := m.Plan()
	swapped := len(plan.Swapped())
	if swapped == 0 || swapped == cfg.Layers {
		t.Fatalf("plan %v: want resident and swapped blocks", plan)
	}
	b.fake.SetResident(plan.Resident)
	m.SetResidency(&computeCheck{Residency: m.residency, fake: b.fake, resident: plan.Resident})
	if infos := m.LoadedLoRAs(); len(infos) != 2 || len(infos[0].RunTime) != len(l1.adapters) || len(infos[1].RunTime) != len(l2.adapters) {
		t.Errorf("LoadedLoRAs %+v, want every adapter of both at run time", infos)
	}

	var largest int64
	for i := range cfg.Layers {
		prefix := fmt.Sprintf("blocks.%d.", i)
		for name, bytes := range b.resident {
			if strings.HasPrefix(name, prefix) && strings.Contains(name, ".lora_") {
				if !plan.Resident[i] {
					t.Errorf("%s (%d bytes) of swapped block %d was made in resident memory", name, bytes, i)
				} else if bytes != wantEntries[i][name] {
					t.Errorf("resident %s: %d bytes, want %d", name, bytes, wantEntries[i][name])
				}
			}
		}
		if plan.Resident[i] {
			continue
		}
		largest = max(largest, b.set.layouts[i].Bytes)
		for name, bytes := range wantEntries[i] {
			e, slab, ok := b.set.entry(i, name)
			if !ok || e.Bytes != bytes {
				t.Errorf("swapped block %d: slab entry %q %+v (present %v), want %d bytes", i, name, e, ok, bytes)
				continue
			}
			// The slab holds the adapter the model computes with.
			module := strings.TrimSuffix(strings.TrimSuffix(name, ".lora_down"), ".lora_up")
			p := m.loraTargets()[module].lin.lora
			if p == nil || !p.slab {
				t.Errorf("%s: no packed pair (%+v)", module, p)
				continue
			}
			vals := b.ToHost(p.down)
			if strings.HasSuffix(name, ".lora_up") {
				vals = b.ToHost(p.up)
			}
			for k, v := range vals {
				if got := math.Float32frombits(binary.LittleEndian.Uint32(slab[4*k:])); got != v {
					t.Errorf("%s: slab value %d is %v, the adapter's %v", name, k, got, v)
					break
				}
			}
		}
	}
	if b.resident["head.head.lora_down"] == 0 {
		t.Error("the head's adapter (outside the blocks) was not made resident")
	}
	if plan.SlotBytes < largest {
		t.Errorf("slot of %d bytes for a swapped block of %d", plan.SlotBytes, largest)
	}

	for step := range 2 { // the second pass reuses the slots
		if d := relDiff(forwardOf(t, m), want); !(d <= 1e-6) {
			t.Errorf("step %d: swapped model with packed LoRAs differs from the resident one by %.3g", step, d)
		}
	}
	if st := m.SwapStats(); st.Uploads < int64(2*swapped) {
		t.Errorf("stats %+v: want the %d swapped blocks uploaded on each of 2 passes", st, swapped)
	}
	if v := b.fake.Violations(); len(v) != 0 {
		t.Errorf("fake mover violations: %v", v)
	}

	// A LoRA attached after loading cannot stack onto a packed pair.
	if err := m.AttachLoRA(f2, 1); err == nil || !strings.Contains(err.Error(), "slab") {
		t.Errorf("attaching onto packed adapters: err %v, want one naming the slab", err)
	}
	if d := relDiff(forwardOf(t, m), want); !(d <= 1e-6) {
		t.Errorf("a refused attach changed the output by %.3g", d)
	}

	m.DetachLoRAs()
	for _, lin := range m.loraTargetsLinears() {
		if lin.lora != nil {
			t.Fatal("a linear kept its adapter after DetachLoRAs")
		}
	}
	if d := relDiff(forwardOf(t, m), wantPlain); !(d <= 1e-6) {
		t.Errorf("after DetachLoRAs the output differs from the plain model's by %.3g", d)
	}
	// Now the resident path: the same LoRAs attached after loading, as on the reference.
	clear(b.resident)
	for _, l := range loras {
		if err := m.AttachLoRA(l.File, l.Strength); err != nil {
			t.Fatal(err)
		}
	}
	if b.resident["blocks.3.ffn.0.lora_down"] == 0 || m.blocks[3].ffn0.lora.slab {
		t.Error("a LoRA attached after DetachLoRAs did not take the resident path")
	}
	if d := relDiff(forwardOf(t, m), want); !(d <= 1e-6) {
		t.Errorf("re-attached after loading: differs from the reference by %.3g", d)
	}
	if v := b.fake.Violations(); len(v) != 0 {
		t.Errorf("fake mover violations: %v", v)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := b.fake.LiveBytes(); n != 0 || !b.set.closed {
		t.Errorf("after Close: %d slot bytes allocated, set closed %v", n, b.set.closed)
	}
}

// TestLoadForRunLoRAsResident: without swapping (a backend that cannot, or a
// budget that holds every block) Run.LoRAs are attached as AttachLoRAOpts
// does; a LoRA that does not fit fails the load.
func TestLoadForRunLoRAsResident(t *testing.T) {
	src, cfg := fourBlocks(t)
	l := newTestLoRA(cfg, 4, 4, 301, "blocks.2.ffn.0", "time_embedding.0")
	f := openLoRA(t, writeLoRA(t, l, "l"))
	ref, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Free()
	if err := ref.AttachLoRA(f, 0.5); err != nil {
		t.Fatal(err)
	}
	want := forwardOf(t, ref)
	run := Run{Grid: Grid{T: 2, H: 4, W: 6}, LoRAs: []LoadLoRA{{File: f, Strength: 0.5}}}
	for _, b := range []engine.Backend{cpu.New(), newSlabSwapper(1 << 40)} {
		m, err := LoadForRun(context.Background(), b, src, run)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Plan().Swapped()) != 0 || len(m.LoadedLoRAs()) != 1 {
			t.Errorf("%T: plan %v, loaded %v: want every block resident and the LoRA attached", b, m.Plan(), m.LoadedLoRAs())
		}
		if d := relDiff(forwardOf(t, m), want); !(d <= 1e-6) {
			t.Errorf("%T: differs from AttachLoRA by %.3g", b, d)
		}
		m.Free()
	}

	// Another model's LoRA (a wider FFN) fails before anything is allocated.
	wide := cfg
	wide.FFNDim = 1024
	bad := openLoRA(t, writeLoRA(t, newTestLoRA(wide, 4, 4, 302, "blocks.1.ffn.0"), "bad"))
	for _, b := range []*slabSwapper{newSlabSwapper(1 << 40), newSlabSwapper(1)} {
		_, err := LoadForRun(context.Background(), b, src, Run{Grid: run.Grid, LoRAs: []LoadLoRA{{File: bad, Strength: 1}}})
		if err == nil || !strings.Contains(err.Error(), "LoRA") {
			t.Errorf("another model's LoRA: err %v, want one naming the LoRA", err)
		}
		if b.fake.LiveBytes() != 0 || (b.set != nil && !b.set.closed) {
			t.Error("a failed load left slots or a swap set behind")
		}
	}
}

// TestLoadForRunNilLoRA: a Run.LoRAs entry without a file is an error on both paths (swapping backend or
// not), before anything loads, not a nil dereference.
func TestLoadForRunNilLoRA(t *testing.T) {
	src, _ := fourBlocks(t)
	for _, b := range []engine.Backend{cpu.New(), newSlabSwapper(1 << 40)} {
		m, err := LoadForRun(context.Background(), b, src, Run{Grid: Grid{T: 2, H: 4, W: 6}, LoRAs: []LoadLoRA{{Strength: 1}}})
		if err == nil || !strings.Contains(err.Error(), "Run.LoRAs[0] has no file") {
			t.Errorf("%T: LoadForRun = %v, %v; want the missing file named", b, m, err)
		}
	}
}
