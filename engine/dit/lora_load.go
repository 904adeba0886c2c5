package dit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/gguf"
)

// LoRAs given at load time.
//
// LoadForRun attaches the LoRAs of Run.LoRAs as it loads the model. On a
// model whose blocks are all resident that is AttachLoRAOpts after Load.
// On a swapped model, the adapters of a swapped block's linears go into
// that block's slab: its layout grows by their bytes (the slot size with
// it), they are copied to the device with the block's matrices and borrow
// its slot like them, so they cost no resident memory and are never
// uploaded but with the block. Resident blocks and the modules outside the
// blocks keep resident adapters. The planner counts every block's adapters
// in its bytes (resident or slot and slab) and those outside the blocks as
// fixed bytes.
//
// A slab's layout is fixed once its pinned memory is allocated, so a LoRA
// attached after loading (AttachLoRA) takes the resident path, planned by
// Run.Extra; it cannot stack onto a linear whose adapters are in a slab.
// DetachLoRAs frees the packed adapters like the others; their bytes stay
// in the slabs, unused, until the model is freed.

// LoadLoRA is a LoRA LoadForRun attaches: AttachLoRAOpts(File, Strength,
// Options). File must stay open until LoadForRun returns.
type LoadLoRA struct {
	File     *lora.File
	Strength float32
	Options  LoRAOptions
}

// LoadedLoRAs reports, for each of Run.LoRAs in order, where its adapters
// went (nil for a model loaded without them).
// DetachLoRAs clears it.
func (m *Model) LoadedLoRAs() []LoRAAttach {
	if s := m.loraState(false); s != nil {
		return slices.Clone(s.loaded)
	}
	return nil
}

// packingLoRAs returns the packing state while LoadForRun attaches
// Run.LoRAs to a swapped model, else nil.
func (m *Model) packingLoRAs() *loraPacking {
	if s := m.loraState(false); s != nil {
		return s.packing
	}
	return nil
}

// loraPacking is the state of LoadForRun attaching Run.LoRAs to a swapped
// model: the swapped blocks' adapters wait on the host, stacked, until pack
// uploads them through their blocks' slab views.
type loraPacking struct {
	backend func(block int) engine.Backend // block's slab view
	pending map[*linear]*hostPair
}

// takes reports whether module's adapters go to a slab: while packing (p
// not nil), for the modules of swapped blocks.
func (p *loraPacking) takes(m *Model, module string) bool {
	if p == nil {
		return false
	}
	_, inBlock := blockIndex(module)
	return inBlock && !m.residentModule(module)
}

// attachAtLoad attaches loras in order, recording where each went. With
// packing set (a swapped model), swapped blocks' adapters are stacked on the
// host, then packed into their slabs. ctx is checked before every adapter,
// delta and packed pair. On an error the caller frees m.
func (m *Model) attachAtLoad(ctx context.Context, loras []LoadLoRA, packing *loraPacking) error {
	if len(loras) == 0 {
		return nil
	}
	state := m.loraState(true)
	state.packing = packing
	defer func() { state.packing = nil }()
	for _, l := range loras {
		info, err := m.attach(ctx, l.File, l.Strength, l.Options)
		if err != nil {
			return err
		}
		state.loaded = append(state.loaded, info)
	}
	if packing == nil {
		return nil
	}
	return m.pack(ctx, packing)
}

// pack uploads the pending adapters of swapped blocks through their slab
// views, in module order, and installs them; ctx is checked before each.
// On an error nothing it made is kept and no linear is changed.
func (m *Model) pack(ctx context.Context, p *loraPacking) (err error) {
	type item struct {
		lin *linear
		hp  *hostPair
	}
	var items []item
	for lin, hp := range p.pending {
		items = append(items, item{lin, hp})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.hp.module, b.hp.module) })
	var made []engine.Tensor
	defer func() {
		if err != nil {
			m.b.Free(made...)
		}
	}()
	defer engine.Catch(&err)
	pairs := make([]*loraPair, len(items))
	for k, it := range items {
		if err := loadStopped(ctx, "packing the LoRA adapters of "+it.hp.module); err != nil {
			return err
		}
		blk, _ := blockIndex(it.hp.module)
		pairs[k] = it.hp.make(p.backend(blk), &made)
		pairs[k].slab = true
	}
	state := m.loraState(true)
	for k, it := range items {
		it.lin.lora = pairs[k]
		state.linears = append(state.linears, it.lin)
	}
	state.owned = append(state.owned, made...)
	return nil
}

// adapterSize is the stacked adapter the LoRAs give one linear.
type adapterSize struct {
	rank, in, out int
	typ           gguf.Type
}

// loadAdapters returns the adapter each module of the model gets once loras
// are attached on b (the stacking and type rules of AttachLoRAOpts), after
// checking that each LoRA is for a model of cfg's kind.
func loadAdapters(loras []LoadLoRA, cfg Config, b engine.Backend) (map[string]adapterSize, error) {
	sizes := map[string]adapterSize{}
	for _, l := range loras {
		if l.File == nil {
			return nil, fmt.Errorf("dit: Run.LoRAs has an entry without a file")
		}
		if err := l.File.Check(cfg.Arch()); err != nil {
			return nil, err
		}
		for _, a := range l.File.Adapters {
			typ := adapterType(l.File, a, b)
			s, ok := sizes[a.Module]
			if ok && s.typ != typ {
				typ = gguf.TypeF32
			}
			sizes[a.Module] = adapterSize{rank: s.rank + a.Rank, in: a.In, out: a.Out, typ: typ}
		}
	}
	return sizes, nil
}

// blockAdapters returns the slab entries of block's adapters: each adapted
// linear's lora_down and lora_up, in the order of its matrices.
func blockAdapters(sizes map[string]adapterSize, prefix string) (names []string, bytes []int64) {
	for _, w := range swappable(prefix) {
		module := w[:len(w)-len(".weight")]
		s, ok := sizes[module]
		if !ok {
			continue
		}
		down, up := pairBytes(s.rank, s.in, s.out, s.typ)
		names = append(names, module+".lora_down", module+".lora_up")
		bytes = append(bytes, down, up)
	}
	return names, bytes
}

// outsideBlocks is the bytes of the adapters of modules outside the blocks
// (embeddings, head), which stay resident.
func outsideBlocks(sizes map[string]adapterSize) int64 {
	var n int64
	for module, s := range sizes {
		if _, inBlock := blockIndex(module); !inBlock {
			down, up := pairBytes(s.rank, s.in, s.out, s.typ)
			n += down + up
		}
	}
	return n
}
