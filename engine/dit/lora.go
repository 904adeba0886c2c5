package dit

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/gguf"
)

// LoRA at run time.
//
// AttachLoRA adds a LoRA file's low-rank adapters to the model's linears
// without touching their (possibly quantized) weights: a linear with
// adapters computes y = W·x + b + up·(down·x), two extra Linear calls on the
// backend's core ops. Every LoRA attached to one linear is concatenated into
// one rank: down stacks the A matrices along the rank, up puts the B
// matrices side by side, each multiplied by its scale (strength·alpha/rank).
// The adapter tensors are uploaded once, at attach, as F16 or BF16 when
// every contributing tensor had that type and as F32 otherwise (B·scale is
// rounded once to that type); on a backend with the LoRALinear fast path,
// whose GEMMs read them as bf16, always as BF16. That path adds the
// low-rank product inside the layer's GEMM instead of the two extra Linear
// calls and the add. LoRAs given to LoadForRun (Run.LoRAs) put a swapped
// block's adapters into its slab instead (lora_load.go).
//
// Full-tensor deltas (.diff, .diff_b) replace the tensor they apply to with
// base + delta for as long as the LoRA is attached; the original is kept and
// restored by DetachLoRAs. The sum is computed in float32 and stored in the
// base's type when that is F32, F16 or BF16 (so an F16 matrix stays F16 and
// rounds the sum once). A quantized vector becomes F32. A delta of a
// quantized matrix is refused: re-quantizing would change the base weights
// and an F32 copy would double the layer's memory; merge such a LoRA into an
// F16/BF16 model file instead. Deltas of block matrices are also refused on
// a model with swapped blocks, whose matrices live in the swap slabs.
//
// On request (LoRAOptions.Merge) an adapter is merged instead: its weight is
// replaced by W + scale·B·A, the same replace-and-keep-original way as a
// delta, when W is F32, F16 or BF16 and not in a swap slab; the others keep
// the run-time path.

// loraPair is the low-rank path of one linear: every LoRA attached to it,
// concatenated into one rank, with each LoRA's scale folded into its columns
// of up. forward adds up·(down·x) to the layer's output.
type loraPair struct {
	down engine.Tensor // [rank, in]: the LoRAs' A matrices stacked along the rank
	up   engine.Tensor // [out, rank]: the B matrices side by side, each times its scale
	rank int           // the LoRAs' total rank
	// padded is rank rounded up to loraRankAlign: down has that many rows and
	// up that many columns, the extra ones zero.
	padded int
	typ    gguf.Type // the stored type of down and up
	// slab marks a pair packed into a swapped block's slab (LoadForRun's
	// Run.LoRAs): its tensors borrow the block's device slot and cannot be
	// read back while the block is not acquired.
	slab bool
}

// LoRALinear is an optional Backend fast path for a linear with a run-time
// LoRA: LinearLoRA(x, w, bias, down, up, gelu) is Linear(x, w, bias) +
// Linear(Linear(x, down, nil), up, nil), followed by GELU (tanh) when gelu is
// set, as one op (the low-rank product accumulated by the layer's own GEMM,
// say, so that no [..., out] temporary and no add pass exist and a GELU stays
// in the GEMM's epilogue). down is [rank, in] and up [out, rank], rank a
// multiple of loraRankAlign. A backend with it gets its adapters stored BF16.
type LoRALinear interface {
	LinearLoRA(x, w, bias, down, up engine.Tensor, gelu bool) engine.Tensor
}

// linear: x [..., in] → W·x + b + up·(down·x) [..., out] of the linear l
// this pair adapts, then GELU (tanh) with gelu: the backend's LoRALinear when
// it has one, else Linear, addTo and GELU.
func (p *loraPair) linear(b engine.Backend, l linear, x engine.Tensor, gelu bool) engine.Tensor {
	if f, ok := b.(LoRALinear); ok {
		return f.LinearLoRA(x, l.weight, l.bias, p.down, p.up, gelu)
	}
	y := b.Linear(x, l.weight, l.bias)
	p.addTo(b, x, y)
	if gelu {
		return consume(b, y, b.GELU)
	}
	return y
}

// addTo adds up·(down·x) to y in place, for x [..., in] and y [..., out]. On
// a failing op y is freed, as if the Linear that made it had failed.
func (p *loraPair) addTo(b engine.Backend, x, y engine.Tensor) {
	ok := false
	defer func() {
		if !ok {
			b.Free(y)
		}
	}()
	h := b.Linear(x, p.down, nil)
	d := consume(b, h, func(h engine.Tensor) engine.Tensor { return b.Linear(h, p.up, nil) })
	addGated(b, y, d, nil)
	ok = true
}

// loraState is what the attached LoRAs changed in one model.
type loraState struct {
	linears []*linear                        // linears given a loraPair
	orig    map[*engine.Tensor]engine.Tensor // tensors replaced by a delta → the original
	owned   []engine.Tensor                  // every tensor the attached LoRAs made
	names   []string                         // "file@strength", in attach order
	loaded  []LoRAAttach                     // LoadForRun's Run.LoRAs: where each went
	packing *loraPacking                     // set while LoadForRun packs adapters into slabs
}

func (m *Model) loraState(create bool) *loraState {
	if m.lora == nil && create {
		m.lora = &loraState{orig: map[*engine.Tensor]engine.Tensor{}}
	}
	return m.lora
}

// AttachedLoRAs lists the attached LoRAs as "name@strength", in attach order.
func (m *Model) AttachedLoRAs() []string {
	if s := m.loraState(false); s != nil {
		return slices.Clone(s.names)
	}
	return nil
}

// loraTarget is a tensor of the model a LoRA may change.
type loraTarget struct {
	lin   *linear        // the module's linear, for adapters; nil for other tensors
	param *engine.Tensor // the tensor itself, for deltas
}

// loraTargets maps the model's module names ("blocks.3.self_attn.q") to its
// linears and its tensor names ("blocks.3.norm3.weight") to its tensors.
func (m *Model) loraTargets() map[string]loraTarget {
	t := map[string]loraTarget{}
	lin := func(name string, l *linear) {
		t[name] = loraTarget{lin: l}
		t[name+".weight"] = loraTarget{param: &l.weight}
		t[name+".bias"] = loraTarget{param: &l.bias}
	}
	par := func(name string, p *engine.Tensor) { t[name] = loraTarget{param: p} }
	lin("patch_embedding", &m.patchEmbedding)
	lin("text_embedding.0", &m.textEmbedding[0])
	lin("text_embedding.2", &m.textEmbedding[1])
	lin("time_embedding.0", &m.timeEmbedding[0])
	lin("time_embedding.2", &m.timeEmbedding[1])
	lin("time_projection.1", &m.timeProjection)
	for i, blk := range m.blocks {
		p := "blocks." + strconv.Itoa(i)
		for _, a := range []struct {
			name string
			at   *attention
		}{{".self_attn", blk.selfAttn}, {".cross_attn", blk.crossAttn}} {
			lin(p+a.name+".q", &a.at.q)
			lin(p+a.name+".k", &a.at.k)
			lin(p+a.name+".v", &a.at.v)
			lin(p+a.name+".o", &a.at.o)
			par(p+a.name+".norm_q.weight", &a.at.normQ)
			par(p+a.name+".norm_k.weight", &a.at.normK)
		}
		par(p+".norm3.weight", &blk.norm3.weight)
		par(p+".norm3.bias", &blk.norm3.bias)
		par(p+".modulation", &blk.modulation)
		lin(p+".ffn.0", &blk.ffn0)
		lin(p+".ffn.2", &blk.ffn2)
	}
	lin("head.head", &m.head.head)
	par("head.modulation", &m.head.modulation)
	return t
}

// Arch describes the model for lora.File.Check.
func (c Config) Arch() lora.Arch {
	return lora.Arch{Name: c.String(), Dim: c.Dim, FFNDim: c.FFNDim, InDim: c.InDim, OutDim: c.OutDim,
		TextDim: c.TextDim, FreqDim: c.FreqDim, Layers: c.Layers}
}

// AttachLoRA adds the LoRA f at strength to the model (see "LoRA at run
// time" above); call it once per LoRA to stack several. It checks that f is
// for this model and that every tensor's shape matches the one it adapts,
// naming the tensor when not, and changes nothing when it fails. Attach
// before EmbedText: a LoRA on text_embedding changes the embedded text. f may
// be closed afterwards. It is AttachLoRAOpts with the zero LoRAOptions.
func (m *Model) AttachLoRA(f *lora.File, strength float32) error {
	_, err := m.AttachLoRAOpts(f, strength, LoRAOptions{})
	return err
}

// LoRAOptions says how AttachLoRAOpts applies a LoRA.
type LoRAOptions struct {
	// Merge adds each adapter's scale·B·A into the weight it adapts, where
	// that weight is stored F32, F16 or BF16 and lives in device memory: the
	// layer then costs nothing more at run time. The sum is computed in
	// float32, one matrix at a time, and stored in the weight's own
	// type (an F16/BF16 weight rounds it once); on a backend with the
	// LoRAMerger fast path it is computed there, in the weight's own device
	// memory (lora_merge.go). The merged weight replaces the model's own,
	// which is freed at once: the merge costs at most one matrix of extra
	// memory while it runs and none afterwards, and it is permanent —
	// DetachLoRAs removes run-time adapters and restores deltas, but merged
	// weights stay merged until the model is freed. A failure part way
	// leaves the matrices merged so far merged. Adapters of quantized
	// weights, and of the matrices of swapped blocks (which live in the swap
	// slabs), keep the run-time path; LoRAAttach.RunTime names them.
	Merge bool
}

// LoRAAttach reports where one attached LoRA's adapters went.
type LoRAAttach struct {
	// Merged lists the modules ("blocks.3.ffn.0") whose weights now include
	// the adapter.
	Merged []string
	// RunTime lists the modules that compute the adapter at run time, each
	// with why when merging was asked for: "blocks.3.ffn.0 (Q8_0)",
	// "blocks.7.self_attn.q (swapped block)". Without Merge every adapted
	// module is here, without a reason.
	RunTime []string
}

// AttachLoRAOpts is AttachLoRA with options: with o.Merge the adapters of
// F32/F16/BF16 resident weights are merged into them (see LoRAOptions). It
// reports which modules were merged and which compute the LoRA at run time;
// on an error it changes nothing.
func (m *Model) AttachLoRAOpts(f *lora.File, strength float32, o LoRAOptions) (LoRAAttach, error) {
	return m.attach(context.Background(), f, strength, o)
}

// attach is AttachLoRAOpts, checking ctx before every adapter and delta it
// reads (LoadForRun's Run.LoRAs): once ctx is cancelled it frees what it made
// and returns an error wrapping ctx.Err(). Weights merged in place so far
// stay merged, as after any failure part way (LoadForRun then frees them).
func (m *Model) attach(ctx context.Context, f *lora.File, strength float32, o LoRAOptions) (info LoRAAttach, err error) {
	if math.IsNaN(float64(strength)) || math.IsInf(float64(strength), 0) {
		return info, fmt.Errorf("dit: LoRA %s: strength %v is not a finite number", f.Name, strength)
	}
	if err := f.Check(m.Config.Arch()); err != nil {
		return info, err
	}
	targets := m.loraTargets()
	state := m.loraState(false)
	// baseType is the type a tensor has in the model file.
	baseType := func(p *engine.Tensor) gguf.Type {
		if state != nil {
			if o, ok := state.orig[p]; ok {
				return engine.WeightType(o)
			}
		}
		return engine.WeightType(*p)
	}

	// Check everything before making anything.
	merge := make([]bool, len(f.Adapters))
	for k, a := range f.Adapters {
		t, ok := targets[a.Module]
		if !ok || t.lin == nil {
			return info, fmt.Errorf("dit: LoRA %s: tensor %q adapts %s, which this model (%s) has not", f.Name, a.Down, a.Module, m.Config)
		}
		ws := t.lin.weight.Shape()
		if ws[0] != a.Out || ws[1] != a.In {
			return info, fmt.Errorf("dit: LoRA %s: tensors %q and %q make a [%d, %d] update; the model's %s.weight is %v",
				f.Name, a.Up, a.Down, a.Out, a.In, a.Module, engine.ShapeString(ws))
		}
		if p := t.lin.lora; p != nil && p.slab {
			return info, fmt.Errorf("dit: LoRA %s: %s already has LoRAs packed in its swapped block's slab, which cannot be extended after loading: "+
				"give every LoRA of a swapped model to LoadForRun (Run.LoRAs), or DetachLoRAs first", f.Name, a.Module)
		}
		if !o.Merge {
			info.RunTime = append(info.RunTime, a.Module)
			continue
		}
		switch typ := baseType(&t.lin.weight); {
		case !halfOrFloat(typ):
			info.RunTime = append(info.RunTime, a.Module+" ("+typ.String()+")")
		case !m.residentModule(a.Module):
			info.RunTime = append(info.RunTime, a.Module+" (swapped block)")
		default:
			merge[k] = true
			info.Merged = append(info.Merged, a.Module)
		}
	}
	for _, d := range f.Diffs {
		t, ok := targets[d.Param]
		if !ok || t.param == nil || *t.param == nil {
			return info, fmt.Errorf("dit: LoRA %s: tensor %q is a delta of %s, which this model (%s) has not", f.Name, d.Key, d.Param, m.Config)
		}
		ws := (*t.param).Shape()
		if !sameElems(d.Shape, ws) {
			return info, fmt.Errorf("dit: LoRA %s: tensor %q has shape %v; the model's %s is %v", f.Name, d.Key, d.Shape, d.Param, engine.ShapeString(ws))
		}
		base := baseType(t.param)
		if len(ws) >= 2 && !halfOrFloat(base) {
			return info, fmt.Errorf("dit: LoRA %s: tensor %q is a full-weight delta of %s, which is %v in the model file: wan22 applies "+
				"deltas only to F32, F16 or BF16 weights (re-quantizing would change the base); use an F16/BF16 model file or a LoRA without .diff tensors",
				f.Name, d.Key, d.Param, base)
		}
		if b, _ := blockIndex(d.Param); b >= 0 && len(ws) >= 2 && m.swappedBlocks() {
			return info, fmt.Errorf("dit: LoRA %s: tensor %q is a full-weight delta of %s, a matrix of a swapped block: load the model without block swapping to apply it",
				f.Name, d.Key, d.Param)
		}
	}

	// Make the new tensors; on a failure free them and change nothing.
	b := m.b
	type newPair struct {
		lin  *linear
		pair *loraPair
	}
	type newParam struct {
		param *engine.Tensor
		t     engine.Tensor
	}
	var pairs []newPair
	staged := map[*linear]*hostPair{} // swapped blocks' adapters to pack (LoadForRun)
	packing := m.packingLoRAs()
	var params []newParam
	var made []engine.Tensor
	defer func() {
		if err != nil {
			b.Free(made...)
			info = LoRAAttach{}
		}
	}()
	defer engine.Catch(&err)
	// replace gives the tensor *param the value newValue(cur) returns, cur
	// its current value (which newValue must not change), keeping the original
	// for DetachLoRAs. A tensor this LoRA changes twice (an adapter merged
	// into a weight that also has a .diff) is changed from its first new
	// value.
	pending := map[*engine.Tensor]int{} // param → its index in params
	replace := func(param *engine.Tensor, newValue func(cur engine.Tensor) engine.Tensor) {
		cur := *param
		i, again := pending[param]
		if again {
			cur = params[i].t
		}
		t := newValue(cur)
		made = append(made, t)
		if again {
			made = slices.DeleteFunc(made, func(x engine.Tensor) bool { return x == cur })
			b.Free(cur)
			params[i].t = t
			return
		}
		pending[param] = len(params)
		params = append(params, newParam{param, t})
	}
	for k, a := range f.Adapters {
		if err := loadStopped(ctx, "attaching LoRA "+f.Name+" at "+a.Module); err != nil {
			return info, err
		}
		down, up, err := f.Matrices(a)
		if err != nil {
			return info, err
		}
		scale := a.Scale(strength)
		for i := range up {
			up[i] *= scale
		}
		if merge[k] {
			w, name := &targets[a.Module].lin.weight, a.Module+".weight"
			lr := lowRank{up: up, down: down, out: a.Out, rank: a.Rank, in: a.In}
			if _, again := pending[w]; again || !m.mergeInPlace(w, name, lr) {
				replace(w, func(cur engine.Tensor) engine.Tensor { return mergedCopy(b, cur, name, lr) })
			}
			continue
		}
		lin := targets[a.Module].lin
		hp := &hostPair{module: a.Module, down: down, up: up, rank: a.Rank, in: a.In, out: a.Out, typ: adapterType(f, a, b)}
		if packing.takes(m, a.Module) {
			// A swapped block's adapter during LoadForRun: stacked on the
			// host and packed into the block's slab once every LoRA is in.
			if prev := staged[lin]; prev != nil {
				hp = prev.then(hp)
			} else if prev := packing.pending[lin]; prev != nil {
				hp = prev.then(hp)
			}
			staged[lin] = hp
			continue
		}
		if old := lin.lora; old != nil {
			// The earlier LoRAs without their zero padding, then this one.
			hp = old.host(b, hp.module, a.In, a.Out).then(hp)
		}
		pairs = append(pairs, newPair{lin, hp.make(b, &made)})
	}
	for _, d := range f.Diffs {
		if err := loadStopped(ctx, "attaching LoRA "+f.Name+" at "+d.Param); err != nil {
			return info, err
		}
		delta, err := f.Values(d)
		if err != nil {
			return info, err
		}
		replace(targets[d.Param].param, func(cur engine.Tensor) engine.Tensor {
			return editedCopy(b, cur, d.Param, func(v []float32) {
				for i := range v {
					v[i] += delta[i]
				}
			})
		})
	}

	// Commit: nothing below can fail.
	state = m.loraState(true)
	for lin, hp := range staged {
		packing.pending[lin] = hp
	}
	var replaced []engine.Tensor
	for _, np := range pairs {
		if old := np.lin.lora; old != nil {
			replaced = append(replaced, old.down, old.up)
		} else {
			state.linears = append(state.linears, np.lin)
		}
		np.lin.lora = np.pair
	}
	for _, np := range params {
		if _, ok := state.orig[np.param]; ok {
			replaced = append(replaced, *np.param)
		} else {
			state.orig[np.param] = *np.param
		}
		*np.param = np.t
	}
	state.owned = slices.DeleteFunc(append(state.owned, made...), func(t engine.Tensor) bool { return slices.Contains(replaced, t) })
	state.names = append(state.names, f.Name+"@"+strconv.FormatFloat(float64(strength), 'g', -1, 32))
	b.Free(replaced...)
	return info, nil
}

// DetachLoRAs removes every attached LoRA, restores the tensors deltas
// replaced and frees what the LoRAs made. Model.Free must call it before it
// frees the weights.
func (m *Model) DetachLoRAs() {
	s := m.lora
	m.lora = nil
	if s == nil {
		return
	}
	for _, l := range s.linears {
		l.lora = nil
	}
	for p, o := range s.orig {
		*p = o
	}
	m.b.Free(s.owned...)
}

// residentModule reports whether the module's matrices are in device memory
// as the model's own weights: every module outside the blocks, and those of
// blocks the residency plan keeps resident.
func (m *Model) residentModule(module string) bool {
	i, ok := blockIndex(module)
	if !ok {
		return true
	}
	res := m.Plan().Resident
	return i < len(res) && res[i]
}

// swappedBlocks reports whether some blocks' matrices live in swap slabs.
func (m *Model) swappedBlocks() bool { return m.swap != nil }

// blockIndex returns N of "blocks.N.…", or -1.
func blockIndex(name string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(name, "blocks.%d.", &n); err != nil {
		return -1, false
	}
	return n, true
}

func halfOrFloat(t gguf.Type) bool {
	return t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16
}

// sameElems reports whether a file shape fits a model tensor's shape:
// equal after dropping leading 1s, or (the patch embedding's Conv3d against
// its [dim, in·4] view) the same first dimension and element count.
func sameElems(file []int64, model []int) bool {
	for len(file) > 1 && file[0] == 1 {
		file = file[1:]
	}
	for len(model) > 1 && model[0] == 1 {
		model = model[1:]
	}
	if len(file) == 0 || len(model) == 0 || file[0] != int64(model[0]) {
		return false
	}
	n := int64(1)
	for _, d := range file {
		n *= d
	}
	if len(file) != len(model) && len(model) != 2 {
		return false
	}
	return n == int64(engine.Numel(model))
}

// firstColumns returns the first n columns of m [rows, cols].
func firstColumns(m []float32, cols, n, rows int) []float32 {
	out := make([]float32, 0, rows*n)
	for r := range rows {
		out = append(out, m[r*cols:r*cols+n]...)
	}
	return out
}

// loraRankAlign is the multiple a linear's LoRA rank is padded to (with
// zeros): the CUDA backend's GEMM takes K, here the rank, in multiples of 8.
const loraRankAlign = 8

// joinColumns puts a [rows, ra] and b [rows, rb] side by side: [rows, ra+rb].
func joinColumns(a []float32, ra int, b []float32, rb, rows int) []float32 {
	out := make([]float32, 0, rows*(ra+rb))
	for r := range rows {
		out = append(out, a[r*ra:(r+1)*ra]...)
		out = append(out, b[r*rb:(r+1)*rb]...)
	}
	return out
}

// hostPair is one linear's adapters on the host before they are padded and
// uploaded: every LoRA attached to it so far, concatenated along the rank,
// each LoRA's scale folded into its columns of up.
type hostPair struct {
	module   string    // "blocks.3.ffn.0"
	down, up []float32 // [rank, in] and [out, rank]
	rank     int
	in, out  int
	typ      gguf.Type // the type down and up are stored in
}

// adapterType is the type a's matrices are stored in on b: their file's
// type when both are F32, F16 or BF16 and alike, else F32; always BF16 on a
// backend with the LoRALinear fast path, whose GEMMs read them as bf16 (so
// they are never converted per call).
func adapterType(f *lora.File, a lora.Adapter, b engine.Backend) gguf.Type {
	if _, fused := b.(LoRALinear); fused {
		return gguf.TypeBF16
	}
	typ := f.Type(a.Down)
	if f.Type(a.Up) != typ || !halfOrFloat(typ) {
		typ = gguf.TypeF32
	}
	return typ
}

// then stacks next after h: down's rows, up's columns and the ranks are
// concatenated; adapters of different types are stored F32.
func (h *hostPair) then(next *hostPair) *hostPair {
	typ := h.typ
	if next.typ != typ {
		typ = gguf.TypeF32
	}
	return &hostPair{module: h.module, down: append(slices.Clip(h.down), next.down...),
		up: joinColumns(h.up, h.rank, next.up, next.rank, h.out), rank: h.rank + next.rank, in: h.in, out: h.out, typ: typ}
}

// host reads an uploaded pair back without its zero padding.
func (p *loraPair) host(b engine.Backend, module string, in, out int) *hostPair {
	return &hostPair{module: module, down: b.ToHost(p.down)[:p.rank*in], up: firstColumns(b.ToHost(p.up), p.padded, p.rank, out),
		rank: p.rank, in: in, out: out, typ: p.typ}
}

// paddedRank rounds a rank up to loraRankAlign: zero rows of A and columns
// of B add nothing, and the GPU GEMM over the rank needs it a multiple of 8.
func paddedRank(rank int) int { return (rank + loraRankAlign - 1) / loraRankAlign * loraRankAlign }

// pairBytes is the bytes of a stacked pair's two tensors once padded, in
// the order they are made: down [padded, in], then up [out, padded].
func pairBytes(rank, in, out int, typ gguf.Type) (down, up int64) {
	size := int64(4)
	if typ != gguf.TypeF32 {
		size = 2
	}
	p := int64(paddedRank(rank))
	return p * int64(in) * size, int64(out) * p * size
}

// make pads h and uploads it on b as module.lora_down and module.lora_up,
// appending each tensor to *made as soon as it exists (an engine.Failf panic
// on a failing upload leaves the earlier one there for the caller to free).
func (h *hostPair) make(b engine.Backend, made *[]engine.Tensor) *loraPair {
	padded := paddedRank(h.rank)
	down := append(slices.Clip(h.down), make([]float32, (padded-h.rank)*h.in)...)
	up := joinColumns(h.up, h.rank, make([]float32, (padded-h.rank)*h.out), padded-h.rank, h.out)
	p := &loraPair{rank: h.rank, padded: padded, typ: h.typ}
	p.down = upload(b, h.module+".lora_down", h.typ, down, padded, h.in)
	*made = append(*made, p.down)
	p.up = upload(b, h.module+".lora_up", h.typ, up, h.out, padded)
	*made = append(*made, p.up)
	return p
}

// upload makes a weight of type typ (F32, F16 or BF16) from float32 values.
func upload(b engine.Backend, name string, typ gguf.Type, v []float32, shape ...int) engine.Tensor {
	var data []byte
	switch typ {
	case gguf.TypeF32:
		data = make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
		}
	case gguf.TypeF16, gguf.TypeBF16:
		conv := gguf.F32ToF16
		if typ == gguf.TypeBF16 {
			conv = gguf.F32ToBF16
		}
		data = make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(data[2*i:], conv(x))
		}
	default:
		engine.Failf("AttachLoRA", "tensor %q: cannot store %v", name, typ)
	}
	info := gguf.TensorInfo{Name: name, Type: typ, Shape: make([]int64, len(shape)), Size: int64(len(data))}
	for i, d := range shape {
		info.Shape[i] = int64(d)
	}
	return b.Weight(info, data)
}
