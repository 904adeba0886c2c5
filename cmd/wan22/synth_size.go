package main

import (
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
)

// ditSyntheticSize returns an upper bound on the size of the file
// dit.WriteSynthetic writes for cfg and weightType, within a few hundred
// bytes per tensor of the real size: the tensor data exactly, following the
// layout dit.WriteSynthetic documents (block linears in weightType, falling
// back to F16 when a row is not a whole number of blocks; other matrices F16
// or weightType when that is F32/F16/BF16; 1-D and ≤ 1024-element tensors
// F32; each tensor padded to 32 bytes), and the header bounded by 160 bytes
// a tensor plus 4 KiB of metadata. synth_test.go checks it against written
// files, so a change of layout in dit shows there.
//
// TODO(lead): replace with dit.SyntheticSize when engine/dit exports one.
func ditSyntheticSize(cfg dit.Config, weightType gguf.Type) (int64, error) {
	big := gguf.TypeF16
	switch weightType {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		big = weightType
	}
	var data, tensors int64
	add := func(typ gguf.Type, shape ...int64) error {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		if n <= 1024 || len(shape) == 1 {
			typ = gguf.TypeF32
		}
		b, err := typ.RowBytes(n)
		if err != nil {
			return err
		}
		data += (b + gguf.DefaultAlignment - 1) / gguf.DefaultAlignment * gguf.DefaultAlignment
		tensors++
		return nil
	}
	linear := func(typ gguf.Type, out, in int64) error {
		if bs := int64(typ.BlockSize()); bs > 1 && in%bs != 0 {
			typ = gguf.TypeF16
		}
		if err := add(typ, out, in); err != nil {
			return err
		}
		return add(gguf.TypeF32, out)
	}
	d, ffn := int64(cfg.Dim), int64(cfg.FFNDim)
	errs := []error{
		add(gguf.TypeF32, d),
		add(gguf.TypeF32, d, int64(cfg.InDim), 1, 2, 2),
		linear(big, d, int64(cfg.TextDim)),
		linear(big, d, d),
		linear(big, d, int64(cfg.FreqDim)),
		linear(big, d, d),
		linear(big, 6*d, d),
		add(gguf.TypeF32, 1, 2, d),
		linear(big, int64(cfg.OutDim)*4, d),
	}
	// One block: modulation, 8 attention linears, 4 q/k norms, norm3
	// weight and bias, and the two FFN linears. All blocks are alike.
	perBlock := data
	errs = append(errs, add(gguf.TypeF32, 1, 6, d))
	for range 8 {
		errs = append(errs, linear(weightType, d, d))
	}
	for range 6 {
		errs = append(errs, add(gguf.TypeF32, d))
	}
	errs = append(errs, linear(weightType, ffn, d), linear(weightType, d, ffn))
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	blockData, blockTensors := data-perBlock, int64(1+8*2+6+2*2)
	layers := int64(cfg.Layers)
	data += (layers - 1) * blockData
	tensors += (layers - 1) * blockTensors
	return 4096 + 160*tensors + data, nil
}
