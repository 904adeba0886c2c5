package dit

import (
	"context"
	"errors"
	"fmt"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Residency makes blocks' weights usable around their compute: Acquire(i)
// before block i's first op (it may start moving later blocks in), Release(i)
// after its last, for every stream the pass runs. The block schedule of a
// swapped model is one.
type Residency interface {
	Acquire(block int) error
	Release(block int) error
}

// SetResidency installs r to be called around every block (nil: none). A
// model loaded with swapped blocks has its schedule installed already;
// replacing it is for tests.
func (m *Model) SetResidency(r Residency) { m.residency = r }

// Run describes the forward passes a model will run, for planning where its
// blocks live.
type Run struct {
	Grid Grid
	CFG  bool // two residual streams (conditional and unconditional) per step
	// VRAM and Pinned, when positive, lower the budgets the backend reports
	// (to plan as a smaller card would while the backend keeps its own cap).
	VRAM, Pinned int64
	// Extra is device memory the model will hold beyond its file's weights,
	// planned as resident: the LoRAs attached after loading.
	Extra int64
	// LoRAs are attached as the model loads (see "LoRAs given at load
	// time"): a swapped block's adapters go into its slab. They are planned
	// here; do not count them in Extra.
	LoRAs []LoadLoRA
}

// swappable lists the names of a block's tensors that are swapped when the
// block is: its ten matrices, 99.9% of its bytes. The norms, biases and
// modulation stay resident with their converted copies.
func swappable(prefix string) []string {
	var names []string
	for _, a := range []string{"self_attn", "cross_attn"} {
		for _, p := range []string{"q", "k", "v", "o"} {
			names = append(names, prefix+"."+a+"."+p+".weight")
		}
	}
	return append(names, prefix+".ffn.0.weight", prefix+".ffn.2.weight")
}

// swapState is a swapped model's storage and schedule.
type swapState struct {
	set   engine.SwapSet
	sched *blockswap.Schedule
}

func (s *swapState) close() error {
	var errs []error
	if s.sched != nil {
		errs = append(errs, s.sched.Close())
	}
	return errors.Join(append(errs, s.set.Close())...)
}

// LoadForRun loads a DiT for the passes r describes. On a backend that can
// swap blocks (engine.Swapper) it plans, with blockswap.NewPlan, which blocks
// stay in device memory within the backend's budget and loads the others
// into host slabs streamed through device slots while the model runs; when
// everything fits, or on any other backend, it is Load. A budget too small
// for the run is a *blockswap.BudgetError naming the minimum. When the model
// ReadsSource, src must stay open until the model is freed. The LoRAs of
// r.LoRAs are attached in order (LoadedLoRAs reports where each went); a
// LoRA that does not fit the model fails the load.
//
// ctx is checked before every tensor is read and every LoRA adapter is made
// or merged: once it is cancelled LoadForRun frees everything it made
// (weights, adapters, the swapped blocks' slabs and slots) and returns an
// error wrapping ctx.Err(), so errors.Is(err, context.Canceled) holds.
func LoadForRun(ctx context.Context, b engine.Backend, src gguf.Source, r Run) (*Model, error) {
	for i, l := range r.LoRAs {
		if l.File == nil {
			return nil, fmt.Errorf("dit: Run.LoRAs[%d] has no file", i)
		}
	}
	if err := loadStopped(ctx, "before it began"); err != nil {
		return nil, err
	}
	sw, ok := b.(engine.Swapper)
	if !ok {
		m, err := load(ctx, b, newView(src), nil)
		if err != nil {
			return nil, err
		}
		return m.withLoRAs(ctx, r.LoRAs, nil)
	}
	v := newView(src)
	cfg, err := configFrom(v)
	if err != nil {
		return nil, err
	}
	if err := r.Grid.validate(); err != nil {
		return nil, err
	}
	in, layouts, err := planInputs(v, cfg, r, b)
	if err != nil {
		return nil, err
	}
	if in.VRAM, in.Pinned, err = sw.SwapBudgets(); err != nil {
		return nil, err
	}
	if r.VRAM > 0 {
		in.VRAM = min(in.VRAM, r.VRAM)
	}
	if r.Pinned > 0 {
		in.Pinned = min(in.Pinned, r.Pinned)
	}
	plan, err := blockswap.NewPlan(in)
	if err != nil {
		return nil, err
	}
	if plan.NumResident() == cfg.Layers {
		m, err := load(ctx, b, v, nil)
		if err != nil {
			return nil, err
		}
		m.plan = plan
		return m.withLoRAs(ctx, r.LoRAs, nil)
	}
	set, err := sw.NewSwap(plan, layouts)
	if err != nil {
		return nil, err
	}
	st := &swapState{set: set}
	m, err := load(ctx, b, v, func(i int) engine.Backend {
		if plan.Resident[i] {
			return nil
		}
		return set.Backend(i)
	})
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	m.swap, m.plan = st, plan
	// Before Loaded: the slabs' adapters are part of their layouts.
	if _, err := m.withLoRAs(ctx, r.LoRAs, &loraPacking{backend: set.Backend, pending: map[*linear]*hostPair{}}); err != nil {
		return nil, err
	}
	if err := loadStopped(ctx, "before the block schedule"); err != nil {
		m.Free()
		return nil, err
	}
	if err := set.Loaded(); err != nil {
		m.Free()
		return nil, err
	}
	if st.sched, err = blockswap.NewSchedule(plan, set); err != nil {
		m.Free()
		return nil, fmt.Errorf("dit: setting up the block schedule: %w", err)
	}
	m.residency = st.sched
	return m, nil
}

// withLoRAs attaches loras at load (attachAtLoad) and returns m, or frees m
// and returns the error (ctx's when it is cancelled part way).
func (m *Model) withLoRAs(ctx context.Context, loras []LoadLoRA, packing *loraPacking) (*Model, error) {
	err := m.attachAtLoad(ctx, loras, packing)
	if err == nil {
		// A cancel during the last step is honoured too: the caller asked to stop.
		err = loadStopped(ctx, "as it ended")
	}
	if err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}

// planInputs measures the model for the planner: the swappable bytes and slab
// layout of every block (r.LoRAs' adapters of its linears included, as made
// on b), the bytes that stay resident, and the activation peak of the run.
func planInputs(v *view, cfg Config, r Run, b engine.Backend) (blockswap.Inputs, []engine.SlabLayout, error) {
	var in blockswap.Inputs
	adapters, err := loadAdapters(r.LoRAs, cfg, b)
	if err != nil {
		return in, nil, err
	}
	layouts := make([]engine.SlabLayout, cfg.Layers)
	inBlock := map[string]bool{}
	var scratch int64
	for i := range cfg.Layers {
		names := swappable(fmt.Sprintf("blocks.%d", i))
		sizes := make([]int64, len(names))
		for j, n := range names {
			ti, ok := v.Lookup(n)
			if !ok {
				return in, nil, fmt.Errorf("dit: tensor %q is missing from the model file (wrong model kind or an incomplete file?)", n)
			}
			sizes[j] = ti.Size
			inBlock[n] = true
			if ti.Type != gguf.TypeBF16 && ti.Type != gguf.TypeF32 {
				scratch = max(scratch, ti.Elements()*2) // dequantized to bf16 before its GEMM
			}
		}
		an, ab := blockAdapters(adapters, fmt.Sprintf("blocks.%d", i))
		layouts[i] = engine.NewSlabLayout(append(names, an...), append(sizes, ab...))
		in.BlockBytes = append(in.BlockBytes, layouts[i].Bytes)
	}
	for _, ti := range v.Tensors() {
		if !inBlock[ti.Name] {
			// Small tensors also get an f32 (and for biases a bf16) copy on first use.
			in.FixedBytes += ti.Size + ti.Elements()*6
		}
	}
	streams := 1
	if r.CFG {
		streams = 2
	}
	in.FixedBytes += int64(streams) * TextLen * int64(cfg.Dim) * 4 // the embedded prompts
	in.FixedBytes += max(r.Extra, 0) + outsideBlocks(adapters)
	in.Activations = blockswap.ActivationPeak(blockswap.Activations{
		Tokens: r.Grid.Tokens(), Dim: cfg.Dim, FFNDim: cfg.FFNDim, FFNChunk: DefaultFFNChunk,
		Heads: cfg.Heads, TextLen: TextLen, Streams: streams, WeightScratch: scratch,
	})
	return in, layouts, nil
}

// ReadsSource reports whether the model reads its source file while it runs
// (swapped blocks streamed through a staging ring when the pinned budget is
// too small for their slabs): the source must then stay open until the model
// is freed. Otherwise the source may be closed once LoadForRun returns.
func (m *Model) ReadsSource() bool { return m.swap != nil && m.swap.set.FromFile() }

// Plan is the model's residency plan: which blocks are resident and how the
// others are streamed (every block resident for a model made by Load).
func (m *Model) Plan() blockswap.Plan {
	if m.plan.Resident == nil {
		p := blockswap.Plan{Resident: make([]bool, len(m.blocks))}
		for i := range p.Resident {
			p.Resident[i] = true
		}
		return p
	}
	return m.plan
}

// SwapStats reports the block schedule's counters (zero when no block is
// swapped).
func (m *Model) SwapStats() blockswap.Stats {
	if m.swap == nil || m.swap.sched == nil {
		return blockswap.Stats{}
	}
	return m.swap.sched.Stats()
}
