package safetensors

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// goldenCase lists what a golden file must hold (see ../shared/golden/README.md).
type goldenCase struct {
	file   string
	count  int
	shapes map[string][]int64
	// first values of some F32 tensors, as the Python reference reads them.
	values map[string][]float32
}

var goldenCases = []goldenCase{
	{
		file:  "vae_tiny.safetensors",
		count: 194,
		shapes: map[string][]int64{
			"encoder.conv1.weight":                   {16, 3, 3, 3, 3},
			"conv1.weight":                           {32, 32, 1, 1, 1},
			"conv2.weight":                           {16, 16, 1, 1, 1},
			"decoder.conv1.weight":                   {64, 16, 3, 3, 3},
			"decoder.head.2.bias":                    {3},
			"decoder.head.0.gamma":                   {16, 1, 1, 1},
			"encoder.downsamples.0.residual.0.gamma": {16, 1, 1, 1},
		},
		values: map[string][]float32{
			"encoder.conv1.bias": {0.014920591376721859, -0.007967723533511162, -0.0007536027114838362, 0.06448867172002792},
		},
	},
	{
		file:  "vae_tiny_cases.safetensors",
		count: 8,
		shapes: map[string][]int64{
			"case0.video":   {3, 9, 32, 48},
			"case0.latent":  {16, 3, 4, 6},
			"case0.z":       {16, 3, 4, 6},
			"case0.decoded": {3, 9, 32, 48},
			"case1.video":   {3, 1, 16, 24},
			"case1.latent":  {16, 1, 2, 3},
		},
	},
	{
		file:  "dit_tiny_cases.safetensors",
		count: 22,
		shapes: map[string][]int64{
			"case0.x":                 {16, 3, 8, 12},
			"case0.y":                 {20, 3, 8, 12},
			"case0.context":           {7, 128},
			"case0.t":                 {1},
			"case0.out":               {16, 3, 8, 12},
			"case0.out_q8_0":          {16, 3, 8, 12},
			"case0.time_embedding":    {256},
			"case0.time_projection":   {6 * 256},
			"case0.context_embedding": {512, 256},
			"case0.block1.out":        {72, 256},
			"case1.x":                 {16, 2, 6, 10},
			"case1.context":           {13, 128},
		},
	},
	{
		file:  "scheduler_cases.safetensors",
		count: 25,
		shapes: map[string][]int64{
			"unipc40.timesteps":      {40},
			"unipc40.sigmas":         {41},
			"unipc40.x0":             {2, 3, 4, 5},
			"unipc40.model_outputs":  {40, 2, 3, 4, 5},
			"unipc8.samples":         {8, 2, 3, 4, 5},
			"dpmpp20.timesteps":      {20},
			"sampling_sigmas_40_5.0": nil, // present; shape not pinned
		},
		values: map[string][]float32{
			"unipc40.timesteps": {999, 994, 989, 983},
			"unipc40.sigmas":    {0.9997998476028442, 0.9946947693824768, 0.9893770217895508, 0.9838330149650574},
		},
	},
	{
		file:  "t5_tiny_cases.safetensors",
		count: 6,
		shapes: map[string][]int64{
			"case0.ids":  {64},
			"case0.mask": {64},
			"case0.out":  {64, 64},
			"case1.out":  {64, 64},
		},
		values: map[string][]float32{
			"case0.ids":  {349, 688, 936, 444},
			"case0.mask": {1, 1, 1, 1},
		},
	},
}

func TestGoldenFiles(t *testing.T) {
	for _, gc := range goldenCases {
		t.Run(gc.file, func(t *testing.T) {
			path := golden.Path(t, gc.file)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkGolden(t, f, gc)
		})
	}
}

func checkGolden(t *testing.T, f *File, gc goldenCase) {
	t.Helper()
	ts := f.Tensors()
	if len(ts) != gc.count {
		t.Fatalf("%d tensors, want %d", len(ts), gc.count)
	}
	var prevEnd int64
	for i, ti := range ts {
		if ti.Type != gguf.TypeF32 {
			t.Errorf("%s: type %v, want F32", ti.Name, ti.Type)
		}
		if ti.Offset < prevEnd {
			t.Errorf("tensor %d %s at %d is not in file order (previous ends at %d)", i, ti.Name, ti.Offset, prevEnd)
		}
		prevEnd = ti.Offset + ti.Size
		if ti.Size != 4*ti.Elements() {
			t.Errorf("%s: size %d, want %d", ti.Name, ti.Size, 4*ti.Elements())
		}
	}
	for name, shape := range gc.shapes {
		ti, ok := f.Lookup(name)
		if !ok {
			t.Errorf("tensor %s missing", name)
			continue
		}
		if shape != nil && !reflect.DeepEqual(ti.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", name, ti.Shape, shape)
		}
	}
	for name, want := range gc.values {
		b, err := f.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			if got != w {
				t.Errorf("%s[%d] = %v, want %v", name, i, got, w)
			}
		}
	}
	if md := f.Metadata(); len(md) != 0 {
		t.Errorf("unexpected metadata %v", md)
	}
}

// TestGoldenNewFile reads a golden file through the io.ReaderAt path and
// compares every tensor's bytes with the memory-mapped reader's.
func TestGoldenNewFile(t *testing.T) {
	path := golden.Path(t, "t5_tiny_cases.safetensors")
	mf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	osf := openOS(t, path)
	rf, err := NewFile(osf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mf.Tensors(), rf.Tensors()) {
		t.Fatalf("tensor lists differ:\n%v\n%v", mf.Tensors(), rf.Tensors())
	}
	for _, ti := range mf.Tensors() {
		a, err := mf.Data(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := rf.Data(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s: data differs between Open and NewFile", ti.Name)
		}
	}
}
