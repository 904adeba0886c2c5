//go:build cuda

package cuda

import (
	"fmt"

	"github.com/wan22/wan22/gguf"
)

// Dequantize converts n elements of ggml type xt at x into y as f32 or bf16 (yt), on s (nil: the compute
// stream). The f32 results are bit-identical to gguf.Dequantize; the bf16 results are those values rounded
// to nearest even. y must be 16-byte aligned.
func (d *Device) Dequantize(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) error {
	if _, err := checkDequant(y, yt, x, xt, n); err != nil {
		return err
	}
	return d.Do(func() error {
		if !xt.Quantized() && n%8 != 0 {
			return d.convertPlain(s, y, yt, x, xt, n)
		}
		return d.dequantKernel(s, y, yt, x, xt, n, n, n)
	})
}

// DequantizeRows is Dequantize of a [rows, cols] matrix into y with a row stride of ld elements (ld ≥
// cols): row i's values go to y + i·ld elements, and the ld − cols elements after each row are left as
// they are (run-time LoRA dequantizes a weight W [N, K] straight into the first K columns of its
// [W | up] operand this way, lora_kcat.go). cols and ld must be multiples of 8 unless ld == cols (then it
// is Dequantize of rows·cols elements), and rows·cols a multiple of xt's block size. y must be 16-byte
// aligned and hold (rows − 1)·ld + cols elements.
func (d *Device) DequantizeRows(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, rows, cols, ld int64) error {
	if ld == cols {
		return d.Dequantize(s, y, yt, x, xt, rows*cols)
	}
	if err := checkDequantRows(y, yt, rows, cols, ld); err != nil {
		return err
	}
	n := rows * cols
	if _, err := checkDequant(y, yt, x, xt, n); err != nil {
		return err
	}
	return d.Do(func() error { return d.dequantKernel(s, y, yt, x, xt, n, cols, ld) })
}

// checkDequantRows validates DequantizeRows' strided output: rows and cols positive, ld ≥ cols, both
// multiples of 8 (whole 8-element groups per row, rows 16-byte aligned), and y large enough.
func checkDequantRows(y Mem, yt gguf.Type, rows, cols, ld int64) error {
	switch {
	case rows <= 0 || cols <= 0:
		return fmt.Errorf("cuda: dequantize rows: %d rows of %d columns", rows, cols)
	case ld < cols:
		return fmt.Errorf("cuda: dequantize rows: row stride %d is narrower than a row of %d elements", ld, cols)
	case cols%8 != 0 || ld%8 != 0:
		return fmt.Errorf("cuda: dequantize rows: %d columns with row stride %d: a strided output needs both to be multiples of 8", cols, ld)
	}
	return need("dequantize rows output", y, ((rows-1)*ld+cols)*elemBytes(yt))
}

// dequantKernel launches dequant_<xt>_<yt> for n elements written as rows of cols with row stride ld
// (see kernels/dequant.cu; cols == ld: dense). The caller has checked the arguments. Runs on the CUDA
// goroutine.
func (d *Device) dequantKernel(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n, cols, ld int64) error {
	out := "bf16"
	if yt == gguf.TypeF32 {
		out = "f32"
	}
	k, err := d.getKernel("dequant", "dequant_"+dequantizable[xt]+"_"+out)
	if err != nil {
		return err
	}
	return d.launch(s, k, dim3{gridFor(n/8, 256, d.info.SMs*16), 1, 1}, dim3{256, 1, 1}, 0, y, x, n, cols, ld)
}

// convertPlain handles float weights whose length is not a multiple of 8. Runs on the CUDA goroutine.
func (d *Device) convertPlain(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) error {
	var name string
	switch {
	case xt == yt:
		return d.CopyDtoD(s, y, x, n*elemBytes(xt))
	case xt == gguf.TypeF16 && yt == gguf.TypeF32:
		name = "convert_f16_f32"
	case xt == gguf.TypeF16 && yt == gguf.TypeBF16:
		name = "convert_f16_bf16"
	case xt == gguf.TypeF32 && yt == gguf.TypeBF16:
		name = "cast_f32_bf16"
	case xt == gguf.TypeBF16 && yt == gguf.TypeF32:
		name = "cast_bf16_f32"
	case xt == gguf.TypeF32 && yt == gguf.TypeF16:
		name = "cast_f32_f16"
	default:
		return fmt.Errorf("cuda: no conversion from %v to %v", xt, yt)
	}
	k, err := d.getKernel("elementwise", name)
	if err != nil {
		return err
	}
	return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*32), 1, 1}, dim3{256, 1, 1}, 0, y, x, n)
}
