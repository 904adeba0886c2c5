package vae_test

import (
	"context"
	"github.com/wan22/wan22/internal/golden"

	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// roundTo rounds every value through type t (F16 or BF16) and back.
func roundTo(t testing.TB, typ gguf.Type, v []float32) ([]float32, []byte) {
	t.Helper()
	raw, err := gguf.Quantize(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(v))
	if err := gguf.Dequantize(typ, raw, out); err != nil {
		t.Fatal(err)
	}
	return out, raw
}

// convertTiny writes the tiny VAE twice: as a file of type typ (safetensors,
// or GGUF with every name behind prefix) with every tensor of more than one
// dimension stored as typ, and as an F32 safetensors file holding the same
// rounded values. It returns both paths.
func convertTiny(t testing.TB, typ gguf.Type, asGGUF bool, prefix string) (string, string) {
	t.Helper()
	src := openGolden(t, "vae_tiny.safetensors")
	dir := t.TempDir()
	var st, ref []safetensors.Tensor
	gw := gguf.NewWriter()
	for _, ti := range src.Tensors() {
		v, _ := readF32(t, src, ti.Name)
		tt, data := gguf.TypeF32, []byte(nil)
		if len(ti.Shape) > 1 {
			tt = typ
			v, data = roundTo(t, typ, v)
		}
		ref = append(ref, safetensors.FromFloat32(ti.Name, ti.Shape, v))
		if data == nil {
			data = ref[len(ref)-1].Data
		}
		if asGGUF {
			if err := gw.AddTensor(prefix+ti.Name, tt, ti.Shape, data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		st = append(st, safetensors.Tensor{Name: ti.Name, Type: tt, Shape: ti.Shape, Data: data})
	}
	path, refPath := filepath.Join(dir, "vae.safetensors"), filepath.Join(dir, "ref.safetensors")
	if asGGUF {
		path = filepath.Join(dir, "vae.gguf")
		gw.SetKV("general.architecture", "wan_vae")
		if err := gw.WriteFile(path); err != nil {
			t.Fatal(err)
		}
	} else if err := safetensors.Write(path, st, nil); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(refPath, ref, nil); err != nil {
		t.Fatal(err)
	}
	return path, refPath
}

// runCase1 encodes and decodes golden case1 and returns both results.
func runCase1(t testing.TB, v *vae.VAE) (latent, decoded []float32) {
	t.Helper()
	cases := openGolden(t, "vae_tiny_cases.safetensors")
	video, vs := readF32(t, cases, "case1.video")
	latent, err := v.Encode(context.Background(), video, vs[1], vs[2], vs[3])
	if err != nil {
		t.Fatal(err)
	}
	z, zs := readF32(t, cases, "case1.z")
	return latent, decodeAll(t, v, z, zs[1], zs[2], zs[3])
}

// TestLoadFormats loads the tiny VAE as BF16 safetensors and as F16 GGUF
// with ComfyUI's "first_stage_model." prefix, and checks that it computes
// exactly what the F32 model with the same rounded weights computes.
func TestLoadFormats(t *testing.T) {
	cases := openGolden(t, "vae_tiny_cases.safetensors")
	wantLat, _ := readF32(t, cases, "case1.latent")
	wantDec, _ := readF32(t, cases, "case1.decoded")
	for _, c := range []struct {
		name   string
		typ    gguf.Type
		gguf   bool
		prefix string
	}{
		{"safetensors-bf16", gguf.TypeBF16, false, ""},
		{"gguf-f16-prefixed", gguf.TypeF16, true, "first_stage_model."},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, refPath := convertTiny(t, c.typ, c.gguf, c.prefix)
			var src gguf.Source
			var err error
			if c.gguf {
				src, err = gguf.Open(path)
			} else {
				src, err = safetensors.Open(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ref, err := safetensors.Open(refPath)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			b := cpu.New()
			v, err := vae.Load(b, src)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Free()
			vr, err := vae.Load(b, ref)
			if err != nil {
				t.Fatal(err)
			}
			defer vr.Free()
			lat, dec := runCase1(t, v)
			rlat, rdec := runCase1(t, vr)
			if e1, e2 := golden.RelL2(lat, rlat), golden.RelL2(dec, rdec); e1 > 1e-6 || e2 > 1e-6 {
				t.Errorf("differs from the F32 model with the same rounded weights: encode %.3g, decode %.3g", e1, e2)
			}
			t.Logf("vs the F32 golden (weight rounding only): encode %.3g, decode %.3g", golden.RelL2(lat, wantLat), golden.RelL2(dec, wantDec))
		})
	}
}

// edited is a model file with tensors dropped, reshaped or added.
type edited struct {
	gguf.Source
	drop  string
	shape map[string][]int64
	extra []gguf.TensorInfo
}

func (e *edited) Tensors() []gguf.TensorInfo {
	var out []gguf.TensorInfo
	for _, ti := range e.Source.Tensors() {
		if ti, ok := e.Lookup(ti.Name); ok {
			out = append(out, ti)
		}
	}
	return append(out, e.extra...)
}

func (e *edited) Lookup(name string) (gguf.TensorInfo, bool) {
	if name == e.drop {
		return gguf.TensorInfo{}, false
	}
	for _, ti := range e.extra {
		if ti.Name == name {
			return ti, true
		}
	}
	ti, ok := e.Source.Lookup(name)
	if s, ok := e.shape[name]; ok {
		ti.Shape = s
	}
	return ti, ok
}

// notOps is a backend without the VAE ops.
type notOps struct{ engine.Backend }

func TestLoadErrors(t *testing.T) {
	src := openGolden(t, "vae_tiny.safetensors")
	b := cpu.New()
	for _, c := range []struct {
		name string
		src  gguf.Source
		want string // in the error
	}{
		{"missing", &edited{Source: src, drop: "decoder.upsamples.7.time_conv.bias"}, "decoder.upsamples.7.time_conv.bias"},
		{"reshaped", &edited{Source: src, shape: map[string][]int64{"encoder.downsamples.3.residual.2.weight": {32, 16, 3, 3, 1}}}, "encoder.downsamples.3.residual.2.weight"},
		{"extra block", &edited{Source: src, extra: []gguf.TensorInfo{{Name: "decoder.upsamples.15.residual.0.gamma", Type: gguf.TypeF32, Shape: []int64{16, 1, 1, 1}}}}, "decoder.upsamples.15.residual.0.gamma"},
		{"wan2.2 z_dim 48", &edited{Source: src, shape: map[string][]int64{"conv2.weight": {48, 48, 1, 1, 1}}}, "48"},
		{"not a VAE", &edited{Source: src, drop: "conv2.weight"}, "conv2.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := vae.Load(b, c.src)
			if err == nil {
				v.Free()
				t.Fatal("no error")
			}
			if v != nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (VAE %v) does not name %q", err, v, c.want)
			}
			t.Log(err)
		})
	}
	if _, err := vae.Load(notOps{b}, src); err == nil || !strings.Contains(err.Error(), "vae.Ops") {
		t.Errorf("backend without the VAE ops: error %v", err)
	}
}
