package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"testing"

	"github.com/wan22/wan22/internal/golden"
)

// FuzzNewFile feeds arbitrary bytes to the reader. It must never panic, and
// whatever it accepts must be self-consistent and survive a write/read round
// trip unchanged.
func FuzzNewFile(f *testing.F) {
	var buf bytes.Buffer
	if err := Encode(&buf, allDtypes(), map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	valid := bytes.Clone(buf.Bytes())
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(rawFile(`{}`, nil))
	f.Add(rawFile(`{"__metadata__":{"a":"b"}}`, nil))
	f.Add(rawFile(`{"scaled_fp8":{"dtype":"F8_E4M3","shape":[0],"data_offsets":[0,0]},"w":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}`, []byte{1}))
	for i := 8; i < 64 && i < len(valid); i += 7 {
		b := bytes.Clone(valid)
		b[i] ^= 0x10
		f.Add(b)
	}
	// Header-only prefixes (plus a few data bytes) of small golden files, when
	// the golden folder is present.
	if dir := golden.Find(); dir != "" {
		for _, name := range []string{"t5_tiny_cases.safetensors", "scheduler_cases.safetensors", "dit_tiny_cases.safetensors"} {
			b, err := os.ReadFile(dir + "/" + name)
			if err != nil || len(b) < 8 {
				continue
			}
			n := int(binary.LittleEndian.Uint64(b)) + 8
			if n+64 <= len(b) {
				f.Add(b[:n+64])
				flipped := bytes.Clone(b[:n])
				flipped[n/2] ^= 0x04
				f.Add(flipped)
			}
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := NewFile(bytes.NewReader(data))
		if err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("error is %T, not *FormatError: %v", err, err)
			}
			return
		}
		checkConsistent(t, file, int64(len(data)))

		// Round trip: write what was read and read it back.
		var ts []Tensor
		for _, ti := range file.Tensors() {
			d, err := file.Data(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: d})
		}
		var out bytes.Buffer
		if err := Encode(&out, ts, file.Metadata()); err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		again, err := NewFile(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("reading back a re-encoded file: %v", err)
		}
		if len(again.Tensors()) != len(ts) {
			t.Fatalf("%d tensors after round trip, want %d", len(again.Tensors()), len(ts))
		}
		for i, ti := range again.Tensors() {
			w := ts[i]
			if ti.Name != w.Name || ti.Type != w.Type || !reflect.DeepEqual(ti.Shape, w.Shape) {
				t.Fatalf("tensor %d: %+v after round trip, want %s %v %v", i, ti, w.Name, w.Type, w.Shape)
			}
			d, _ := again.Data(ti.Name)
			if !bytes.Equal(d, w.Data) {
				t.Fatalf("%q: data changed in round trip", ti.Name)
			}
		}
		if !reflect.DeepEqual(again.Metadata(), file.Metadata()) {
			t.Fatalf("metadata %v after round trip, want %v", again.Metadata(), file.Metadata())
		}
	})
}
