package gguf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/safetext"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("a", 5000)
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"blocks.0.ffn.0.weight", `"blocks.0.ffn.0.weight"`},
		{"\x1b[2J\x00\r", `"\x1b[2J\x00\r"`},
		{"a\xffb\u009bc\u202e", `"a\xffb\u009bc\u202e"`},
		{"größe", `"größe"`},
		{strings.Repeat("a", 200), `"` + strings.Repeat("a", 200) + `"`}, // exactly the limit: not cut
		{strings.Repeat("a", 201), `"` + strings.Repeat("a", 200) + `"… (201 bytes)`},
		{long, `"` + strings.Repeat("a", 200) + `"… (5000 bytes)`},
		// 50 NULs escape to exactly 200 bytes; 51 do not fit.
		{strings.Repeat("\x00", 50), `"` + strings.Repeat(`\x00`, 50) + `"`},
		{strings.Repeat("\x00", 51), `"` + strings.Repeat(`\x00`, 50) + `"… (51 bytes)`},
		// The cut never splits a rune or an escape: 199 a's, then ß (2 bytes) does not fit.
		{strings.Repeat("a", 199) + "ßb", `"` + strings.Repeat("a", 199) + `"… (202 bytes)`},
		{strings.Repeat("a", 198) + "\x1b", `"` + strings.Repeat("a", 198) + `"… (199 bytes)`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.40q) = %.80q, want %.80q", c.in, got, c.want)
		}
	}
}

// hostile is a tensor name or metadata key a crafted file might hold: a
// terminal escape that clears the screen, a NUL, kilobytes of text and
// bytes that are not UTF-8 or are C1 controls.
const hostile = "\x1b[2J\x00evil" + "................................................................" +
	"................................................................" + "\xff\xc2\x9b"

// hostileName is hostile made 5000 bytes longer.
var hostileName = hostile + strings.Repeat("A", 5000)

// checkSafeMessage fails unless msg is short, valid UTF-8 without control
// characters, and shows the start of hostileName escaped.
func checkSafeMessage(t *testing.T, msg string) {
	t.Helper()
	if p := safetext.Problem(msg, false, 1000); p != "" {
		t.Errorf("message %s: %.300q", p, msg)
	}
	if !strings.Contains(msg, `\x1b[2J\x00evil`) || !strings.Contains(msg, "bytes)") {
		t.Errorf("message does not show the name escaped and its length: %.300q", msg)
	}
}

// TestHostileNamesInErrors: every error that names a tensor or a key of a
// crafted file quotes it and cuts it short.
func TestHostileNamesInErrors(t *testing.T) {
	name := hostileName
	orig := origShapePrefix + name
	ok := newHdr(3, 1, 0).tensor(name, TypeF32, 0, 4).data(16)
	okFile, err := NewFile(bytes.NewReader(ok))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		what string
		data []byte
	}{
		{"tensor type", newHdr(3, 1, 0).tensor(name, Type(4), 0, 32).data(64)},
		{"tensor past the end", newHdr(3, 1, 0).tensor(name, TypeF32, 0, 64).data(16)},
		{"tensor name cut", newHdr(3, 1, 0).str(name).b},
		{"duplicate tensor", newHdr(3, 2, 0).tensor(name, TypeF32, 0, 1).tensor(name, TypeF32, 32, 1).data(64)},
		{"duplicate key", newHdr(3, 0, 2).str(name).u32(uint32(ValueUint8)).raw(1).str(name).u32(uint32(ValueUint8)).raw(1).b},
		{"key value type", newHdr(3, 0, 1).str(name).u32(99).b},
		{"key value cut", newHdr(3, 0, 1).str(name).u32(uint32(ValueString)).u64(1 << 40).b},
		{"orig_shape count", newHdr(3, 1, 1).str(orig).u32(uint32(ValueArray)).u32(uint32(ValueInt32)).u64(1).u32(5).
			tensor(name, TypeF32, 0, 4).data(16)},
		{"orig_shape negative", newHdr(3, 1, 1).str(orig).u32(uint32(ValueArray)).u32(uint32(ValueInt32)).u64(1).u32(0xffffffff).
			tensor(name, TypeF32, 0, 4).data(16)},
		{"orig_shape a string", newHdr(3, 1, 1).str(orig).u32(uint32(ValueString)).str(hostileName).
			tensor(name, TypeF32, 0, 4).data(16)},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			_, err := exercise(t, c.data)
			if err == nil {
				t.Fatal("no error")
			}
			checkSafeMessage(t, err.Error())
		})
	}
	t.Run("lookups", func(t *testing.T) {
		_, err := okFile.Data(name + "x")
		checkSafeMessage(t, err.Error())
		checkSafeMessage(t, okFile.Evict(name+"x").Error())
		_, _, err = ReadFloat32(okFile, name+"x")
		checkSafeMessage(t, err.Error())
		ti := okFile.Tensors()[0]
		ti.Size = 1 << 40
		_, err = okFile.TensorData(ti)
		checkSafeMessage(t, err.Error())
	})
	t.Run("writer", func(t *testing.T) {
		w := NewWriter()
		checkSafeMessage(t, w.AddTensor(name, TypeF32, []int64{4}, nil).Error())
		w.SetKV(name, struct{}{})
		_, err := w.WriteTo(&bytes.Buffer{})
		checkSafeMessage(t, err.Error())
	})
	t.Run("value", func(t *testing.T) {
		v, err := NewValue(hostileName)
		if err != nil {
			t.Fatal(err)
		}
		checkSafeMessage(t, v.String())
	})
}
