package dit

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/gguf"
)

// The merge tests attach the same LoRAs twice, merged and at run time, and
// compare the forwards; the merged model is also compared with the model
// file merged by hand (writeMergedAs).

// attachOpts attaches f with options o, discarding the report.
func attachOpts(m *Model, f *lora.File, strength float32, o LoRAOptions) error {
	_, err := m.AttachLoRAOpts(f, strength, o)
	return err
}

// mergeCase attaches loras to a model of base merged and to one at run
// time, and returns both forwards, the merged model, the reports of its
// attaches and the per-tensor deltas of the LoRAs.
func mergeCase(t *testing.T, base string, loras []attached) (merged, runtime []float32, m *Model, infos []LoRAAttach, acc map[string][]float64) {
	t.Helper()
	dir := t.TempDir()
	m, rt := loadModel(t, base), loadModel(t, base)
	acc = map[string][]float64{}
	for i, a := range loras {
		path := filepath.Join(dir, "lora"+string(rune('a'+i))+".safetensors")
		a.l.write(t, path, a.style)
		f := openLoRA(t, path)
		info, err := m.AttachLoRAOpts(f, a.strength, LoRAOptions{Merge: true})
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, info)
		if err := rt.AttachLoRA(f, a.strength); err != nil {
			t.Fatal(err)
		}
		a.l.deltas(acc, float64(a.strength), a.style.alpha)
	}
	return forwardOf(t, m), forwardOf(t, rt), m, infos, acc
}

// checkRel fails when got differs from want by more than tol relative.
func checkRel(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	d := relDiff(got, want)
	if d > tol || math.IsNaN(d) {
		t.Errorf("%s: relative difference %.3g, want ≤ %g", what, d, tol)
	}
	t.Logf("%s: %.3g relative", what, d)
}

// checkMergeKept detaches the LoRAs and checks that merges are permanent: the
// weights of the merged linears keep their merged values (a merge rewrites the
// model's own weight and frees the original, so it costs no memory after it
// is done), while every run-time pair is gone. The output then differs from
// the base model's.
func checkMergeKept(t *testing.T, m *Model, plain []float32, merged ...*linear) {
	t.Helper()
	before := make([][]float32, len(merged))
	for i, l := range merged {
		before[i] = m.b.ToHost(l.weight)
	}
	m.DetachLoRAs()
	for i, l := range merged {
		if !slices.Equal(m.b.ToHost(l.weight), before[i]) {
			t.Errorf("merged weight %d changed by DetachLoRAs", i)
		}
	}
	for _, l := range m.loraTargetsLinears() {
		if l.lora != nil {
			t.Fatal("a run-time LoRA pair survived DetachLoRAs")
		}
	}
	if relDiff(forwardOf(t, m), plain) < 1e-3 {
		t.Error("after DetachLoRAs the output is the base model's: the merge was undone")
	}
}

func TestLoRAMergeF32(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	plain := forwardOf(t, loadModel(t, base))
	// The first LoRA also has deltas, one of them of a matrix it adapts
	// (blocks.1.cross_attn.v); the second stacks on some of its modules.
	a := withDiffs(newTestLoRA(smallConfig, 4, 8, 81, allLinears...), smallConfig, true)
	b := newTestLoRA(smallConfig, 3, 0, 82, "blocks.0.self_attn.q", "blocks.1.ffn.0", "head.head")
	merged, rt, m, infos, acc := mergeCase(t, base, []attached{{a, keyStyles[0], 0.75}, {b, keyStyles[2], -0.5}})
	checkRel(t, "merged vs run-time LoRA", merged, rt, loraTol)
	if relDiff(plain, rt) < 1e-2 {
		t.Fatal("the LoRAs hardly change the output: the test cannot tell merged from none")
	}
	ref := filepath.Join(t.TempDir(), "merged.gguf")
	writeMergedAs(t, base, ref, acc, false)
	checkRel(t, "merged vs the file merged by hand", merged, forwardOf(t, loadModel(t, ref)), loraTol)

	if len(infos[0].Merged) != len(allLinears) || len(infos[0].RunTime) != 0 || len(infos[1].Merged) != 3 {
		t.Errorf("reports %+v: want every adapter of an F32 model merged", infos)
	}
	for _, l := range []*linear{&m.blocks[1].ffn0, &m.blocks[0].selfAttn.q, &m.patchEmbedding, &m.head.head} {
		if l.lora != nil || engine.WeightType(l.weight) != gguf.TypeF32 {
			t.Errorf("a merged linear has a run-time pair (%v) or type %v", l.lora != nil, engine.WeightType(l.weight))
		}
	}
	checkMergeKept(t, m, plain, &m.blocks[1].ffn0, &m.head.head)
}

func TestLoRAMergeBF16(t *testing.T) {
	// On a BF16 base the merged weight is rounded to bf16 once, as the
	// weight was: the run-time path, which adds B·(A·x) to the unrounded
	// W·x, differs from it by that rounding (2⁻⁹ relative per weight), so
	// the reference is the file merged by hand and stored BF16. The two
	// sums differ only in float32 vs float64 order, which flips the bf16
	// rounding of a few weights by one ulp; bf16Tol bounds that.
	const bf16Tol = 1e-4
	base := modelFile(t, gguf.TypeBF16)
	plain := forwardOf(t, loadModel(t, base))
	mods := slices.DeleteFunc(slices.Clone(allLinears), func(s string) bool { return s == "patch_embedding" }) // F32 in every synthetic file
	l := newTestLoRA(smallConfig, 4, 8, 91, mods...)
	merged, rt, m, infos, acc := mergeCase(t, base, []attached{{l, keyStyles[1], 1}})
	if len(infos[0].Merged) != len(mods) {
		t.Errorf("report %+v: want every adapter merged", infos[0])
	}
	if wt := engine.WeightType(m.blocks[1].ffn0.weight); wt != gguf.TypeBF16 || m.blocks[1].ffn0.lora != nil {
		t.Errorf("merged blocks.1.ffn.0.weight is %v (run-time pair %v), want BF16 without one", wt, m.blocks[1].ffn0.lora != nil)
	}
	ref := filepath.Join(t.TempDir(), "merged.gguf")
	writeMergedAs(t, base, ref, acc, true)
	checkRel(t, "merged vs the file merged by hand in BF16", merged, forwardOf(t, loadModel(t, ref)), bf16Tol)
	t.Logf("merged vs run-time (bf16 rounding of W+ΔW): %.3g relative", relDiff(merged, rt))
	if d := relDiff(merged, rt); d > 5e-2 {
		t.Errorf("merged vs run-time LoRA: %.3g relative, more than bf16 rounding explains", d)
	}
	checkMergeKept(t, m, plain, &m.blocks[1].ffn0)
}

func TestLoRAMergeQ8_0(t *testing.T) {
	// Q8_0 block matrices keep the run-time path; the F32 patch embedding
	// is merged.
	base := modelFile(t, gguf.TypeQ8_0)
	plain := forwardOf(t, loadModel(t, base))
	mods := []string{"patch_embedding", "blocks.0.self_attn.q", "blocks.1.cross_attn.k", "blocks.1.ffn.0", "blocks.1.ffn.2"}
	l := newTestLoRA(smallConfig, 5, 10, 101, mods...)
	merged, rt, m, infos, _ := mergeCase(t, base, []attached{{l, keyStyles[0], 1}})
	checkRel(t, "merged vs run-time LoRA on Q8_0", merged, rt, loraTol)
	want := []string{"blocks.0.self_attn.q (Q8_0)", "blocks.1.cross_attn.k (Q8_0)", "blocks.1.ffn.0 (Q8_0)", "blocks.1.ffn.2 (Q8_0)"}
	slices.Sort(infos[0].RunTime) // in the file's order
	if !slices.Equal(infos[0].Merged, []string{"patch_embedding"}) || !slices.Equal(infos[0].RunTime, want) {
		t.Errorf("report %+v, want patch_embedding merged and run time for %q", infos[0], want)
	}
	if wt := engine.WeightType(m.blocks[1].ffn0.weight); wt != gguf.TypeQ8_0 || m.blocks[1].ffn0.lora == nil {
		t.Errorf("blocks.1.ffn.0.weight is %v (run-time pair %v), want the Q8_0 base with a run-time pair", wt, m.blocks[1].ffn0.lora != nil)
	}
	checkRestored(t, m, plain)
}

func TestLoRAMergeSwappedBlock(t *testing.T) {
	// A plan that swaps block 1 (the CPU backend cannot swap, so only the
	// plan is set): its matrices keep the run-time path.
	base := modelFile(t, gguf.TypeF32)
	m := loadModel(t, base)
	plain := forwardOf(t, m)
	m.plan = blockswap.Plan{Resident: []bool{true, false}}
	rt := loadModel(t, base)
	l := newTestLoRA(smallConfig, 4, 4, 111, "blocks.0.ffn.0", "blocks.1.ffn.0", "blocks.1.self_attn.o")
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, keyStyles[0])
	f := openLoRA(t, path)
	info, err := m.AttachLoRAOpts(f, 1, LoRAOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.AttachLoRA(f, 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Merged, []string{"blocks.0.ffn.0"}) || len(info.RunTime) != 2 || !strings.HasSuffix(info.RunTime[0], "(swapped block)") {
		t.Errorf("report %+v, want block 0 merged and block 1 at run time (swapped block)", info)
	}
	if m.blocks[1].ffn0.lora == nil || m.blocks[0].ffn0.lora != nil {
		t.Error("want a run-time pair on blocks.1.ffn.0 only")
	}
	checkRel(t, "merged (block 0) vs run-time LoRA", forwardOf(t, m), forwardOf(t, rt), loraTol)
	checkMergeKept(t, m, plain, &m.blocks[0].ffn0)
}

func TestLoRANoMergeReport(t *testing.T) {
	m := loadModel(t, modelFile(t, gguf.TypeF32))
	l := newTestLoRA(smallConfig, 2, 2, 121, "blocks.0.ffn.0", "head.head")
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, keyStyles[0])
	info, err := m.AttachLoRAOpts(openLoRA(t, path), 1, LoRAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(info.RunTime) // in the file's order
	if len(info.Merged) != 0 || !slices.Equal(info.RunTime, []string{"blocks.0.ffn.0", "head.head"}) {
		t.Errorf("report %+v without Merge, want both modules at run time", info)
	}
}

// loraTargetsLinears lists every linear a LoRA can adapt.
func (m *Model) loraTargetsLinears() []*linear {
	var out []*linear
	for _, t := range m.loraTargets() {
		if t.lin != nil {
			out = append(out, t.lin)
		}
	}
	return out
}

// checkRestored detaches the LoRAs and checks that m's forward is plain's bit for bit (nothing was merged in
// place: run-time pairs and restorable replacements only).
func checkRestored(t *testing.T, m *Model, plain []float32) {
	t.Helper()
	m.DetachLoRAs()
	got := forwardOf(t, m)
	for i := range plain {
		if got[i] != plain[i] {
			t.Fatalf("after DetachLoRAs output[%d] = %v, want the base model's %v exactly", i, got[i], plain[i])
		}
	}
}

// mergerCPU is the CPU backend with a LoRAMerger fast path, recording its calls: it merges into an F32
// weight in place (through the CPU tensor's values) and into a new weight of any F32/F16/BF16 one, the
// product summed in float64. It declines (errors.ErrUnsupported) the types in declines and fails every
// call with fail when set.
type mergerCPU struct {
	*cpu.Backend
	calls    []mergeCall
	declines map[gguf.Type]bool
	fail     error
}

// mergeCall is one MergeLoRA call.
type mergeCall struct {
	name    string
	w       engine.Tensor
	inPlace bool
}

func (f *mergerCPU) MergeLoRA(w engine.Tensor, name string, up, down []float32, rank int, inPlace bool) (engine.Tensor, error) {
	f.calls = append(f.calls, mergeCall{name, w, inPlace})
	typ := engine.WeightType(w)
	switch {
	case f.fail != nil:
		return nil, f.fail
	case f.declines[typ]:
		return nil, fmt.Errorf("test backend: %s is %v: %w", name, typ, errors.ErrUnsupported)
	case inPlace && typ != gguf.TypeF32:
		return nil, fmt.Errorf("test backend: %s is %v, merged in place only when F32", name, typ)
	}
	s := w.Shape()
	rows, cols := s[0], s[1]
	v := f.ToHost(w)
	for o := range rows {
		for n := range cols {
			sum := float64(v[o*cols+n])
			for r := range rank {
				sum += float64(up[o*rank+r]) * float64(down[r*cols+n])
			}
			v[o*cols+n] = float32(sum)
		}
	}
	if inPlace {
		copy(w.(*cpu.Tensor).Data(), v)
		return w, nil
	}
	return upload(f, name, typ, v, s...), nil
}

// mergerModel loads base on a mergerCPU.
func mergerModel(t *testing.T, base string) (*Model, *mergerCPU) {
	t.Helper()
	fb := &mergerCPU{Backend: cpu.New()}
	m, err := Load(fb, openGGUF(t, base))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	return m, fb
}

// attachFile writes l in style to a temporary file and attaches it with o.
func attachFile(t *testing.T, m *Model, l testLoRA, style keyStyle, strength float32, o LoRAOptions) (LoRAAttach, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, style)
	return m.AttachLoRAOpts(openLoRA(t, path), strength, o)
}

// TestLoRAMergeDevicePath checks how AttachLoRAOpts uses a backend's LoRAMerger: every merged adapter goes
// through it, given the model's weight itself; the model's own (loader) weights are merged in place and stay
// the same tensors, the patch embedding (a view) into a copy with its original unchanged; no weight is read
// back for the host product; and the forward equals the model merged on the host.
func TestLoRAMergeDevicePath(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	m, fb := mergerModel(t, base)
	l := newTestLoRA(smallConfig, 4, 8, 131, allLinears...)
	targets := m.loraTargets()
	before := map[string]engine.Tensor{}
	var patchValues []float32
	for _, mod := range allLinears {
		before[mod+".weight"] = targets[mod].lin.weight
	}
	patchValues = m.b.ToHost(m.patchEmbedding.weight)
	info, err := attachFile(t, m, l, keyStyles[0], 0.75, LoRAOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Merged) != len(allLinears) {
		t.Errorf("report %+v: want every adapter merged", info)
	}
	seen := map[string]bool{}
	for _, c := range fb.calls {
		if seen[c.name] {
			t.Errorf("%s merged twice", c.name)
		}
		seen[c.name] = true
		orig, ok := before[c.name]
		if !ok {
			t.Errorf("MergeLoRA called for %s, which the LoRA does not adapt", c.name)
			continue
		}
		if c.w != orig {
			t.Errorf("%s: MergeLoRA was given another tensor than the model's weight", c.name)
		}
		now := targets[strings.TrimSuffix(c.name, ".weight")].lin.weight
		if wantInPlace := c.name != "patch_embedding.weight"; c.inPlace != wantInPlace {
			t.Errorf("%s: merged with inPlace %v, want %v", c.name, c.inPlace, wantInPlace)
		}
		if c.inPlace != (now == orig) {
			t.Errorf("%s: inPlace %v, but the model's weight is the same tensor: %v", c.name, c.inPlace, now == orig)
		}
	}
	if len(seen) != len(allLinears) {
		t.Errorf("MergeLoRA called for %d weights, want %d", len(seen), len(allLinears))
	}
	if !slices.Equal(m.b.ToHost(before["patch_embedding.weight"]), patchValues) {
		t.Error("the patch embedding's original weight changed: the restorable merge must work on a copy")
	}

	ref := loadModel(t, base)
	if err := attachOpts(ref, openLoRAWritten(t, l, keyStyles[0]), 0.75, LoRAOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	checkRel(t, "device-path merge vs host merge", forwardOf(t, m), forwardOf(t, ref), loraTol)
}

// openLoRAWritten writes l in style to a temporary file and opens it.
func openLoRAWritten(t *testing.T, l testLoRA, style keyStyle) *lora.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, style)
	return openLoRA(t, path)
}

// TestLoRAMergeDeviceRestorable merges an adapter into a matrix an earlier LoRA's delta replaced: the
// LoRAMerger gets that replacement and makes a copy (inPlace false), the original weight is never
// changed, and DetachLoRAs restores it bit for bit.
func TestLoRAMergeDeviceRestorable(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	m, fb := mergerModel(t, base)
	plain := forwardOf(t, m)
	lin := &m.blocks[1].crossAttn.v
	orig := lin.weight
	origValues := m.b.ToHost(orig)
	if _, err := attachFile(t, m, withDiffs(newTestLoRA(smallConfig, 2, 0, 141, "blocks.0.ffn.2"), smallConfig, true), keyStyles[0], 1, LoRAOptions{}); err != nil {
		t.Fatal(err)
	}
	replaced := lin.weight
	if replaced == orig {
		t.Fatal("the delta did not replace blocks.1.cross_attn.v.weight")
	}
	fb.calls = nil
	info, err := attachFile(t, m, newTestLoRA(smallConfig, 3, 6, 142, "blocks.1.cross_attn.v"), keyStyles[2], 0.5, LoRAOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Merged, []string{"blocks.1.cross_attn.v"}) {
		t.Errorf("report %+v, want blocks.1.cross_attn.v merged", info)
	}
	if len(fb.calls) != 1 || fb.calls[0].inPlace || fb.calls[0].w != replaced {
		t.Fatalf("calls %+v, want one copy merge of the delta's tensor", fb.calls)
	}
	if lin.weight == replaced || lin.weight == orig {
		t.Error("the merged copy is not the model's weight")
	}
	if !slices.Equal(m.b.ToHost(orig), origValues) {
		t.Error("the original weight changed")
	}
	m.DetachLoRAs()
	if lin.weight != orig {
		t.Error("DetachLoRAs did not restore the original weight")
	}
	checkRestoredTo(t, m, plain)
}

// checkRestoredTo checks that m's forward is plain's bit for bit.
func checkRestoredTo(t *testing.T, m *Model, plain []float32) {
	t.Helper()
	got := forwardOf(t, m)
	for i := range plain {
		if got[i] != plain[i] {
			t.Fatalf("output[%d] = %v, want the base model's %v exactly", i, got[i], plain[i])
		}
	}
}

// TestLoRAMergeDeviceDeclines checks the fallback: a LoRAMerger that declines a weight's type
// (errors.ErrUnsupported) leaves it to the host, with the host merge's result bit for bit; one that fails
// otherwise fails the attach with its error.
func TestLoRAMergeDeviceDeclines(t *testing.T) {
	base := modelFile(t, gguf.TypeBF16)
	mods := []string{"blocks.0.self_attn.q", "blocks.1.ffn.0", "head.head"}
	l := newTestLoRA(smallConfig, 4, 8, 151, mods...)
	m, fb := mergerModel(t, base)
	fb.declines = map[gguf.Type]bool{gguf.TypeBF16: true}
	if _, err := attachFile(t, m, l, keyStyles[1], 1, LoRAOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	if len(fb.calls) != len(mods) {
		t.Errorf("%d MergeLoRA calls, want one per adapter (%d)", len(fb.calls), len(mods))
	}
	ref := loadModel(t, base)
	if err := attachOpts(ref, openLoRAWritten(t, l, keyStyles[1]), 1, LoRAOptions{Merge: true}); err != nil {
		t.Fatal(err)
	}
	checkRestoredTo(t, m, forwardOf(t, ref))

	failing, fb2 := mergerModel(t, base)
	fb2.fail = errors.New("device lost")
	_, err := attachFile(t, failing, l, keyStyles[1], 1, LoRAOptions{Merge: true})
	if err == nil || !strings.Contains(err.Error(), "device lost") || !strings.Contains(err.Error(), "partly merged") {
		t.Errorf("attach with a failing LoRAMerger: %v, want its error and that the weight may be partly merged", err)
	}
}
