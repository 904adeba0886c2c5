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
	// The seed's value does not change the metadata's encoded length.
	n, err := synthrand.GGUFSize(syntheticMeta(cfg, 0), prefixed(syntheticTensors(cfg, weightType)))
	if err != nil {
		return 0, fmt.Errorf("dit: synthetic model size: %w", err)
	}
	return n, nil
}
