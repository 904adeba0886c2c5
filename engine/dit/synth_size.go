package dit

import (
	"fmt"

	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
)

// SyntheticSize returns the exact size in bytes of the file WriteSynthetic
// writes for cfg and weightType, without writing anything (for a disk space
// check before a 15–29 GB write). The size does not depend on the seed.
func SyntheticSize(cfg Config, weightType gguf.Type) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	if !weightType.Known() {
		return 0, fmt.Errorf("dit: synthetic weight type %v is unknown", weightType)
	}
	src := syntheticTensors(cfg, weightType)
	ts := make([]synthrand.Tensor, len(src))
	for i, t := range src {
		ts[i] = synthrand.Tensor{Name: Prefix + t.name, Type: t.typ, Shape: t.shape}
	}
	// The metadata writeSynthetic sets; the seed's value does not change
	// its encoded length.
	meta := func(w *gguf.Writer) {
		w.SetKV(gguf.KeyArchitecture, "wan")
		w.SetKV("general.name", "wan22 synthetic "+cfg.String())
		w.SetKV("wan22.synthetic.seed", int64(0))
	}
	n, err := synthrand.GGUFSize(meta, ts)
	if err != nil {
		return 0, fmt.Errorf("dit: synthetic model size: %w", err)
	}
	return n, nil
}
