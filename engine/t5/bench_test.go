package t5

import (
	"context"
	"fmt"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
)

// BenchmarkEncode times one prompt through synthetic encoders on the CPU
// reference backend: the golden tiny shape, and a small one with 128 valid
// tokens of 512. The full-size GPU benchmark belongs to the CUDA backend.
func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cfg   Config
		valid int
	}{
		{"tiny", tinyCfg, 40},
		{"small", Config{Vocab: 4096, Dim: 512, Inner: 512, Heads: 8, FFN: 1280, Layers: 4}, 128},
	} {
		b.Run(fmt.Sprintf("%s/d%d-l%d-tok%d", bc.name, bc.cfg.Dim, bc.cfg.Layers, bc.valid), func(b *testing.B) {
			enc, err := Load(cpu.New(), randomModel(bc.cfg, 7))
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Free()
			ids, mask := make([]int32, 512), make([]int32, 512)
			for i := range bc.valid {
				ids[i], mask[i] = int32(3+i*7%(bc.cfg.Vocab-3)), 1
			}
			ids[bc.valid-1] = 1 // EOS
			for b.Loop() {
				if _, _, err := enc.Encode(context.Background(), ids, mask); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.valid)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
