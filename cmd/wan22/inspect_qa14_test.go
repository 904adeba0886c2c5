package main

// The fourteenth QA pass over wan22 inspect.

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTypedGGUF writes a GGUF v3 file of one 32-element tensor "w" whose
// type field is typ, with 64 bytes of data, whatever typ is (gguf.Writer
// writes only the types it knows).
func writeTypedGGUF(t *testing.T, typ uint32) string {
	t.Helper()
	b := []byte("GGUF")
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, 1) // tensors
	b = binary.LittleEndian.AppendUint64(b, 0) // metadata keys
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = append(b, 'w')
	b = binary.LittleEndian.AppendUint32(b, 1)  // dimensions
	b = binary.LittleEndian.AppendUint64(b, 32) // ne[0]
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint64(b, 0) // offset in the data section
	b = append(b, make([]byte, (32-len(b)%32)%32+64)...)
	path := filepath.Join(t.TempDir(), "typed.gguf")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectUnknownTypeQA14: a GGUF with a tensor of a ggml type newer
// than wan22 knows is not called damaged: inspect says which type, that
// it is probably a newer quantization, and what to use instead. An id no
// ggml type has is still damage.
func TestInspectUnknownTypeQA14(t *testing.T) {
	newer := writeTypedGGUF(t, 43)
	code, stdout, stderr := runCLI("inspect", newer)
	want := "wan22 inspect: " + newer + `: tensor "w" uses ggml type 43, which this version of wan22 does not know (probably a newer quantization): use another quantization of the model (Q8_0, Q6_K, Q5_K_M, Q4_K_M, F16, …), or a newer wan22` + "\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("inspect a file of ggml type 43: status %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, want)
	}
	garbage := writeTypedGGUF(t, 5000)
	code, _, stderr = runCLI("inspect", garbage)
	if code != 1 || !strings.Contains(stderr, "damaged GGUF header") || !strings.Contains(stderr, "unknown ggml tensor type 5000") {
		t.Errorf("inspect a file of type id 5000: status %d, stderr %q; want 1 and a damaged header", code, stderr)
	}
}
