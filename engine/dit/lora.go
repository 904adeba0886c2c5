package dit

import (
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
// rounded once to that type).
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
// be closed afterwards.
func (m *Model) AttachLoRA(f *lora.File, strength float32) (err error) {
	if math.IsNaN(float64(strength)) || math.IsInf(float64(strength), 0) {
		return fmt.Errorf("dit: LoRA %s: strength %v is not a finite number", f.Name, strength)
	}
	if err := f.Check(m.Config.Arch()); err != nil {
		return err
	}
	targets := m.loraTargets()
	state := m.loraState(false)

	// Check everything before making anything.
	for _, a := range f.Adapters {
		t, ok := targets[a.Module]
		if !ok || t.lin == nil {
			return fmt.Errorf("dit: LoRA %s: tensor %q adapts %s, which this model (%s) has not", f.Name, a.Down, a.Module, m.Config)
		}
		ws := t.lin.weight.Shape()
		if ws[0] != a.Out || ws[1] != a.In {
			return fmt.Errorf("dit: LoRA %s: tensors %q and %q make a [%d, %d] update; the model's %s.weight is %v",
				f.Name, a.Up, a.Down, a.Out, a.In, a.Module, engine.ShapeString(ws))
		}
	}
	for _, d := range f.Diffs {
		t, ok := targets[d.Param]
		if !ok || t.param == nil || *t.param == nil {
			return fmt.Errorf("dit: LoRA %s: tensor %q is a delta of %s, which this model (%s) has not", f.Name, d.Key, d.Param, m.Config)
		}
		ws := (*t.param).Shape()
		if !sameElems(d.Shape, ws) {
			return fmt.Errorf("dit: LoRA %s: tensor %q has shape %v; the model's %s is %v", f.Name, d.Key, d.Shape, d.Param, engine.ShapeString(ws))
		}
		base := engine.WeightType(*t.param)
		if state != nil {
			if o, ok := state.orig[t.param]; ok {
				base = engine.WeightType(o)
			}
		}
		if len(ws) >= 2 && !halfOrFloat(base) {
			return fmt.Errorf("dit: LoRA %s: tensor %q is a full-weight delta of %s, which is %v in the model file: wan22 applies "+
				"deltas only to F32, F16 or BF16 weights (re-quantizing would change the base); use an F16/BF16 model file or a LoRA without .diff tensors",
				f.Name, d.Key, d.Param, base)
		}
		if b, _ := blockIndex(d.Param); b >= 0 && len(ws) >= 2 && m.swappedBlocks() {
			return fmt.Errorf("dit: LoRA %s: tensor %q is a full-weight delta of %s, a matrix of a swapped block: load the model without block swapping to apply it",
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
	var params []newParam
	var made []engine.Tensor
	defer func() {
		if err != nil {
			b.Free(made...)
		}
	}()
	defer engine.Catch(&err)
	for _, a := range f.Adapters {
		down, up, err := f.Matrices(a)
		if err != nil {
			return err
		}
		scale := a.Scale(strength)
		for i := range up {
			up[i] *= scale
		}
		typ := f.Type(a.Down)
		if f.Type(a.Up) != typ || !halfOrFloat(typ) {
			typ = gguf.TypeF32
		}
		lin := targets[a.Module].lin
		rank := a.Rank
		if old := lin.lora; old != nil {
			if old.typ != typ {
				typ = gguf.TypeF32
			}
			// The earlier LoRAs without their zero padding, then this one.
			down = append(b.ToHost(old.down)[:old.rank*a.In], down...)
			up = joinColumns(firstColumns(b.ToHost(old.up), old.padded, old.rank, a.Out), old.rank, up, rank, a.Out)
			rank += old.rank
		}
		// Zero rows of A and columns of B add nothing; the GPU GEMM over the
		// rank needs it a multiple of loraRankAlign.
		padded := (rank + loraRankAlign - 1) / loraRankAlign * loraRankAlign
		down = append(down, make([]float32, (padded-rank)*a.In)...)
		up = joinColumns(up, rank, make([]float32, (padded-rank)*a.Out), padded-rank, a.Out)
		p := &loraPair{rank: rank, padded: padded, typ: typ}
		p.down = upload(b, a.Module+".lora_down", typ, down, padded, a.In)
		made = append(made, p.down)
		p.up = upload(b, a.Module+".lora_up", typ, up, a.Out, padded)
		made = append(made, p.up)
		pairs = append(pairs, newPair{lin, p})
	}
	for _, d := range f.Diffs {
		delta, err := f.Values(d)
		if err != nil {
			return err
		}
		param := targets[d.Param].param
		cur := *param
		v := b.ToHost(cur)
		for i := range v {
			v[i] += delta[i]
		}
		typ := engine.WeightType(cur)
		if !halfOrFloat(typ) {
			typ = gguf.TypeF32
		}
		t := upload(b, d.Param, typ, v, cur.Shape()...)
		made = append(made, t)
		params = append(params, newParam{param, t})
	}

	// Commit: nothing below can fail.
	state = m.loraState(true)
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
	return nil
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
