package gguf

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/wan22/wan22/internal/golden"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the FuzzNewFile seed corpus in testdata/fuzz from the golden files")

// FuzzNewFile parses arbitrary bytes: no panic, only *FormatErrors, and a
// file that parses survives a rewrite through Writer unchanged.
func FuzzNewFile(f *testing.F) {
	f.Add(smallFile(f))
	f.Add(newHdr(2, 0, 0).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := exercise(t, data)
		if err != nil {
			return
		}
		rewriteMatches(t, file)
	})
}

// rewriteMatches writes f's metadata and tensors with Writer and requires
// that reading the result gives the same again.
func rewriteMatches(t *testing.T, f *File) {
	for _, kv := range f.Metadata() {
		if strings.HasPrefix(kv.Key, origShapePrefix) {
			return // shapes were rewritten on read; not a plain round trip
		}
	}
	w := NewWriter()
	for _, kv := range f.Metadata() {
		w.SetKV(kv.Key, kv.Value)
	}
	for _, ti := range f.Tensors() {
		data, err := f.Data(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, data); err != nil {
			t.Fatalf("rewriting %q: %v", ti.Name, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	g, err := NewFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("reading the rewrite: %v", err)
	}
	md, gmd := f.Metadata(), g.Metadata()
	if len(md) != len(gmd) {
		t.Fatalf("rewrite has %d keys, want %d", len(gmd), len(md))
	}
	for i := range md {
		if md[i].Key != gmd[i].Key || !md[i].Value.Equal(gmd[i].Value) {
			t.Fatalf("key %d: %q=%s became %q=%s", i, md[i].Key, md[i].Value, gmd[i].Key, gmd[i].Value)
		}
	}
	if len(g.Tensors()) != len(f.Tensors()) {
		t.Fatalf("rewrite has %d tensors, want %d", len(g.Tensors()), len(f.Tensors()))
	}
	for i, ti := range f.Tensors() {
		gi := g.Tensors()[i]
		a, _ := f.Data(ti.Name)
		b, err := g.Data(gi.Name)
		if err != nil || gi.Name != ti.Name || gi.Type != ti.Type || fmt.Sprint(gi.Shape) != fmt.Sprint(ti.Shape) || !bytes.Equal(a, b) {
			t.Fatalf("tensor %d %q changed in the rewrite (%v)", i, ti.Name, err)
		}
	}
}

// dequantTypes lists every type Dequantize supports, for the fuzzer.
var dequantTypes = []Type{
	TypeF32, TypeF16, TypeBF16, TypeF64, TypeI8, TypeU8, TypeI16, TypeI32, TypeI64,
	TypeF8E4M3, TypeF8E5M2, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0,
	TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K, TypeIQ4_NL, TypeIQ4_XS,
}

// FuzzDequantize converts random bytes as every type: no panic, serial and
// parallel agree, wrong sizes are errors.
func FuzzDequantize(f *testing.F) {
	for i := range dequantTypes {
		f.Add(uint8(i), bytes.Repeat([]byte{0x5a, 0xff, 0x00, 0x81}, 300))
	}
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := dequantTypes[int(ti)%len(dequantTypes)]
		bb, bs := typ.BlockBytes(), typ.BlockSize()
		nb := len(data) / bb
		src := data[:nb*bb]
		a := make([]float32, nb*bs)
		b := make([]float32, nb*bs)
		if err := Dequantize(typ, src, a); err != nil {
			t.Fatal(err)
		}
		if err := DequantizeParallel(typ, src, b); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s element %d: serial %v, parallel %v", typ, i, a[i], b[i])
			}
		}
		if len(data) != len(src) {
			if Dequantize(typ, data, a) == nil {
				t.Fatalf("%s: %d bytes for %d elements accepted", typ, len(data), len(a))
			}
		}
		if bs > 1 && len(a) > 0 && Dequantize(typ, src, a[:len(a)-1]) == nil {
			t.Fatalf("%s: partial block output accepted", typ)
		}
	})
}

// TestUpdateCorpus regenerates the committed seed corpus (go test -run
// TestUpdateCorpus -update-corpus): headers, prefixes, truncations and bit
// flips of the golden files and of a writer-made file, each a few KB.
func TestUpdateCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz/FuzzNewFile")
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(golden.Path(t, name))
		require.NoError(t, err)
		return b
	}
	headerOf := func(b []byte) []byte {
		f, err := NewFile(bytes.NewReader(b))
		require.NoError(t, err)
		return b[:f.DataOffset()]
	}
	flip := func(b []byte, off int, mask byte) []byte {
		c := bytes.Clone(b)
		c[off] ^= mask
		return c
	}
	quants, q8, t5 := read("quants.gguf"), read("dit_tiny_q8_0.gguf"), read("t5_tiny_f32.gguf")
	small := smallFile(t)
	qh, q8h := headerOf(quants), headerOf(q8)
	seeds := map[string][]byte{
		"small":              small,
		"small_v2":           flip(small, 4, 1), // version 3 → 2
		"small_cut_half":     small[:len(small)/2],
		"quants_header":      qh,
		"quants_header_cut":  qh[:700],
		"quants_first_block": quants[:len(qh)+64],
		"dit_q8_header":      q8h,
		"dit_q8_cut":         q8h[:1500],
		"dit_q8_flip_count":  flip(q8h[:1500], 8, 0x40),   // tensor_count
		"dit_q8_flip_ndims":  flip(q8h[:1500], 150, 0x08), // inside the first tensor info
		"dit_q8_flip_type":   flip(q8h[:1500], 1000, 0x01),
		"t5_prefix":          t5[:2048],
		"t5_flip_arraycount": flip(t5[:2048], 380, 0x10),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzNewFile")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}
