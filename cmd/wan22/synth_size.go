package main

import (
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
)

// ditSyntheticSize is the exact size of the file dit.WriteSynthetic writes
// for cfg and weightType (dit.SyntheticSize), under the name synth.go and
// its tests use.
func ditSyntheticSize(cfg dit.Config, weightType gguf.Type) (int64, error) {
	return dit.SyntheticSize(cfg, weightType)
}
