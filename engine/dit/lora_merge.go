package dit

import (
	"errors"
	"runtime"
	"sync"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Merging a LoRA adapter into its weight (LoRAOptions.Merge): W += up·down.
//
// A backend with the LoRAMerger fast path computes the sum where the weight
// lives (the CUDA backend: one GEMM accumulating into the weight, no host
// round trip). Without it, or when it declines a weight, the weight is read
// back to the host as float32, the product is added there (addProduct) and
// the sum is uploaded again in the weight's type. Both round the sum once to
// that type. The model's own weights (mergeInPlace) are rewritten; the
// restorable way (mergedCopy, for a tensor a delta of an earlier LoRA already
// replaced) makes a new tensor and never changes the one it reads.

// LoRAMerger is an optional Backend fast path for merging a LoRA adapter:
// MergeLoRA(w, name, up, down, rank, inPlace) returns the weight w + up·down
// for w [out, in] stored F32, F16 or BF16 in device memory, up [out, rank]
// and down [rank, in] row-major float32 host values (any rank ≥ 0; the
// backend pads it as its GEMMs need). The product is summed to about
// float32 accuracy and the sum rounded once to w's type. With inPlace the
// sum is written into w's own memory and w is returned (any cached
// conversion of w is dropped); otherwise a new weight of w's type and
// shape is returned and w is not changed. name names w in errors. An error
// that wraps errors.ErrUnsupported means the backend cannot merge into this
// weight and changed nothing: the caller merges on the host instead. After
// another error an in-place w may be partly changed.
type LoRAMerger interface {
	MergeLoRA(w engine.Tensor, name string, up, down []float32, rank int, inPlace bool) (engine.Tensor, error)
}

// lowRank is one adapter's update up·down, in float32 on the host: up
// [out, rank] with the adapter's scale folded in, down [rank, in].
type lowRank struct {
	up, down      []float32
	out, rank, in int
}

// addTo adds the update to w [out, in] (the host path).
func (lr lowRank) addTo(w []float32) { addProduct(w, lr.up, lr.down, lr.out, lr.rank, lr.in) }

// deviceMerge merges lr into w on the backend when it has the LoRAMerger
// fast path and takes w: it returns the merged weight (w itself with
// inPlace) and true. It returns false, having changed nothing, when the
// host must do it; any other failure panics with an *engine.Error (an
// in-place w may then be partly merged: the error says so).
func deviceMerge(b engine.Backend, w engine.Tensor, name string, lr lowRank, inPlace bool) (engine.Tensor, bool) {
	mg, ok := b.(LoRAMerger)
	if !ok {
		return nil, false
	}
	t, err := mg.MergeLoRA(w, name, lr.up, lr.down, lr.rank, inPlace)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return nil, false
	case err != nil && inPlace:
		engine.Failf("AttachLoRA", "merging the LoRA into %s on the device: %v (the weight may be partly merged: reload the model)", name, err)
	case err != nil:
		engine.Failf("AttachLoRA", "merging the LoRA into a copy of %s on the device: %v", name, err)
	}
	return t, true
}

// mergedCopy returns a new tensor holding cur + lr, cur unchanged: the
// restorable merge, on the device when the backend can, else on the host.
func mergedCopy(b engine.Backend, cur engine.Tensor, name string, lr lowRank) engine.Tensor {
	if t, ok := deviceMerge(b, cur, name, lr, false); ok {
		return t
	}
	return editedCopy(b, cur, name, lr.addTo)
}

// editedCopy returns a new tensor holding cur's values with edit applied
// on the host in float32, stored in cur's type (F32 for a quantized
// tensor); cur is unchanged.
func editedCopy(b engine.Backend, cur engine.Tensor, name string, edit func([]float32)) engine.Tensor {
	v := b.ToHost(cur)
	edit(v)
	typ := engine.WeightType(cur)
	if !halfOrFloat(typ) {
		typ = gguf.TypeF32
	}
	return upload(b, name, typ, v, cur.Shape()...)
}

// mergeInPlace rewrites the model's own weight *param as *param + lr, for a
// merged adapter. On a backend with the LoRAMerger fast path the sum is
// written into the weight's own device memory; otherwise the new weight is
// uploaded, takes the old one's place in the loader that made it, and the
// old one is freed at once. Either way a merge costs at most one matrix of
// extra memory while it runs, not the merged weights' size for as long as
// the model lives. It is permanent: DetachLoRAs does not undo it. It
// returns false, changing nothing, when *param is not a loader's tensor (a
// view, or a tensor an earlier delta replaced): the caller then replaces it
// the restorable way (mergedCopy).
func (m *Model) mergeInPlace(param *engine.Tensor, name string, lr lowRank) bool {
	cur := *param
	if m.lora != nil {
		if _, ok := m.lora.orig[param]; ok {
			return false
		}
	}
	var owner *engine.Loader
	for _, l := range m.loaders {
		if l.Holds(cur) {
			owner = l
			break
		}
	}
	if owner == nil {
		return false
	}
	b := m.b
	if _, ok := deviceMerge(b, cur, name, lr, true); ok {
		return true
	}
	t := editedCopy(b, cur, name, lr.addTo) // a merged weight is F32, F16 or BF16: its type is kept
	owner.Replace(cur, t)
	*param = t
	b.Free(cur)
	return true
}

// addProduct adds up·down to w in place, for w [out, in], up [out, rank]
// and down [rank, in], in float32: each row's product is summed over the
// rank first, then added to the row once. Rows are split among GOMAXPROCS
// goroutines (a 14B FFN matrix at rank 64 is 4.5 GFLOP).
func addProduct(w, up, down []float32, out, rank, in int) {
	workers := max(min(runtime.GOMAXPROCS(0), out), 1)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			acc := make([]float32, in)
			for o := k; o < out; o += workers {
				clear(acc)
				for r := range rank {
					c := up[o*rank+r]
					if c == 0 {
						continue
					}
					for i, x := range down[r*in : (r+1)*in] {
						acc[i] += c * x
					}
				}
				row := w[o*in : (o+1)*in]
				for i, x := range acc {
					row[i] += x
				}
			}
		})
	}
	wg.Wait()
}
