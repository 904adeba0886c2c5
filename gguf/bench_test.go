package gguf

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchInput returns n elements' worth of realistic bytes of type t:
// quantized Gaussian data where Quantize supports t, random bytes otherwise.
func benchInput(b *testing.B, t Type, n int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	if q, err := Quantize(t, randFloats(rng, n, 1)); err == nil {
		return q
	}
	src := make([]byte, n/t.BlockSize()*t.BlockBytes())
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	return src
}

// BenchmarkDequantize measures single-goroutine conversion speed; the
// throughput (and GB/s) counts float32 output bytes.
func BenchmarkDequantize(b *testing.B) {
	benchDequant(b, Dequantize)
}

// BenchmarkDequantizeParallel is the same through DequantizeParallel.
func BenchmarkDequantizeParallel(b *testing.B) {
	benchDequant(b, DequantizeParallel)
}

func benchDequant(b *testing.B, fn func(Type, []byte, []float32) error) {
	const n = 1 << 20
	for _, typ := range dequantTypes {
		b.Run(typ.String(), func(b *testing.B) {
			src := benchInput(b, typ, n)
			dst := make([]float32, n)
			b.SetBytes(4 * n)
			b.ResetTimer()
			for range b.N {
				if err := fn(typ, src, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// wanExpert adds the 1095 tensors of one Wan2.2 A14B i2v expert (dim 5120,
// 40 blocks) to w, the block linears as lin and the large other matrices as
// F16, all zero-filled.
func wanExpert(w *Writer, lin Type) error {
	const dim, ffn, text, freq = 5120, 13824, 4096, 256
	type spec struct {
		name  string
		typ   Type
		shape []int64
	}
	vec := func(name string, n int64) spec { return spec{name, TypeF32, []int64{n}} }
	s := []spec{
		{"patch_embedding.weight", TypeF32, []int64{dim, 36, 1, 2, 2}}, vec("patch_embedding.bias", dim),
		{"text_embedding.0.weight", TypeF16, []int64{dim, text}}, vec("text_embedding.0.bias", dim),
		{"text_embedding.2.weight", TypeF16, []int64{dim, dim}}, vec("text_embedding.2.bias", dim),
		{"time_embedding.0.weight", TypeF16, []int64{dim, freq}}, vec("time_embedding.0.bias", dim),
		{"time_embedding.2.weight", TypeF16, []int64{dim, dim}}, vec("time_embedding.2.bias", dim),
		{"time_projection.1.weight", TypeF16, []int64{6 * dim, dim}}, vec("time_projection.1.bias", 6*dim),
	}
	for i := range 40 {
		p := fmt.Sprintf("blocks.%d.", i)
		s = append(s, spec{p + "modulation", TypeF32, []int64{1, 6, dim}})
		for _, a := range []string{"self_attn.", "cross_attn."} {
			for _, m := range []string{"q", "k", "v", "o"} {
				s = append(s, spec{p + a + m + ".weight", lin, []int64{dim, dim}}, vec(p+a+m+".bias", dim))
			}
			s = append(s, vec(p+a+"norm_q.weight", dim), vec(p+a+"norm_k.weight", dim))
			if a == "self_attn." {
				s = append(s, vec(p+"norm3.weight", dim), vec(p+"norm3.bias", dim))
			}
		}
		s = append(s, spec{p + "ffn.0.weight", lin, []int64{ffn, dim}}, vec(p+"ffn.0.bias", ffn),
			spec{p + "ffn.2.weight", lin, []int64{dim, ffn}}, vec(p+"ffn.2.bias", dim))
	}
	s = append(s, spec{"head.modulation", TypeF32, []int64{1, 2, dim}},
		spec{"head.head.weight", TypeF16, []int64{64, dim}}, vec("head.head.bias", 64))
	for _, t := range s {
		if err := w.AddTensorFunc(t.name, t.typ, t.shape, nil); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkOpenLarge opens a sparse 15.4 GB Q8_0 Wan expert (1095 tensors):
// only the header is read, so the time is independent of the file size.
func BenchmarkOpenLarge(b *testing.B) {
	dir := b.TempDir()
	// Make sure the file system keeps holes before writing 15 GB of them.
	probe := NewWriter()
	if err := probe.AddTensorFunc("x", TypeF32, []int64{16 << 20}, nil); err != nil {
		b.Fatal(err)
	}
	pp := filepath.Join(dir, "probe.gguf")
	if err := probe.WriteFile(pp); err != nil {
		b.Fatal(err)
	}
	if used, ok := allocatedBytes(pp); !ok || used > 8<<20 {
		b.Skipf("%s does not store sparse files (64 MB of zeros took %d bytes); not writing a 15 GB file", dir, used)
	}
	w := NewWriter()
	w.SetKV("general.architecture", "wan")
	w.SetKV("general.file_type", uint32(7))
	if err := wanExpert(w, TypeQ8_0); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "expert.gguf")
	if err := w.WriteFile(path); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var hdr int64
	for _, mode := range []string{"mmap", "readerat"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				var f *File
				var err error
				if mode == "mmap" {
					f, err = Open(path)
				} else {
					var fd *os.File
					if fd, err = os.Open(path); err == nil {
						f, err = NewFile(fd)
						defer fd.Close()
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if len(f.Tensors()) != 1095 {
					b.Fatalf("%d tensors", len(f.Tensors()))
				}
				hdr = f.DataOffset()
				f.Close()
			}
			b.ReportMetric(float64(st.Size())/1e9, "file_GB")
			b.ReportMetric(float64(hdr)/1e3, "header_KB")
		})
	}
}
