package safetensors

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/safetext"
)

// hostileJSON is a JSON string a crafted header might use as a tensor name
// or a metadata key: a terminal escape that clears the screen, a NUL, a C1
// control and a byte that is not UTF-8 (both raw), and 5000 more bytes.
const hostileJSON = `"\u001b[2J\u0000evil` + "\xc2\x9b\xff" + `"`

var longHostileJSON = hostileJSON[:len(hostileJSON)-1] + strings.Repeat("A", 5000) + `"`

// hostileName is the name longHostileJSON decodes to.
var hostileName = "\x1b[2J\x00evil\u009b\ufffd" + strings.Repeat("A", 5000)

// checkSafeMessage fails unless msg is short, valid UTF-8 without control
// characters, and shows want (the start of the hostile text, escaped) and
// that it was cut.
func checkSafeMessage(t *testing.T, msg, want string) {
	t.Helper()
	if p := safetext.Problem(msg, false, 1000); p != "" {
		t.Errorf("message %s: %.300q", p, msg)
	}
	if !strings.Contains(msg, want) || !strings.Contains(msg, "bytes)") {
		t.Errorf("message does not show %s and the text's length: %.300q", want, msg)
	}
}

// TestHostileNamesInErrors: every error that shows a tensor name, a
// metadata key or a piece of the JSON header of a crafted file quotes it
// and cuts it short.
func TestHostileNamesInErrors(t *testing.T) {
	const entry = `{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`
	name := longHostileJSON
	// Raw JSON text shown in a message keeps its JSON escapes (escaped
	// again); the raw C1 control and the invalid byte are escaped.
	const escapedName, escapedJSON = `\x1b[2J\x00evil\u009b`, `\\u001b[2J\\u0000evil\u009b\xff`
	cases := []struct {
		what   string
		header string
		data   int
		want   string
	}{
		{"unsupported dtype", `{` + name + `:{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1, escapedName},
		{"duplicate", `{` + name + `:` + entry + `,` + name + `:` + entry + `}`, 4, escapedName},
		{"overlap", `{` + name + `:` + entry + `,"b":` + entry + `}`, 4, escapedName},
		{"entry not an object", `{` + name + `:` + name + `}`, 0, escapedJSON},
		{"dtype not a string", `{"a":{"dtype":[` + name + `],"shape":[1],"data_offsets":[0,4]}}`, 4, escapedJSON},
		{"shape element", `{"a":{"dtype":"F32","shape":[` + name + `],"data_offsets":[0,4]}}`, 4, escapedJSON},
		{"unsupported dtype named", `{"a":{"dtype":` + name + `,"shape":[1],"data_offsets":[0,4]}}`, 4, escapedName},
		{"metadata key", `{"__metadata__":{` + name + `:1}}`, 0, escapedName},
		{"metadata value", `{"__metadata__":{"k":[` + name + `]}}`, 0, escapedJSON},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			_, err := NewFile(bytes.NewReader(rawFile(c.header, make([]byte, c.data))))
			if err == nil {
				t.Fatal("no error")
			}
			checkSafeMessage(t, err.Error(), c.want)
		})
	}

	t.Run("lookups", func(t *testing.T) {
		f, err := NewFile(bytes.NewReader(rawFile(`{`+name+`:`+entry+`}`, make([]byte, 4))))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Lookup(hostileName); !ok {
			t.Fatalf("no tensor named %.40q", hostileName)
		}
		_, err = f.Data(hostileName + "x")
		checkSafeMessage(t, err.Error(), `\x1b[2J\x00evil`)
		_, err = f.Section(hostileName + "x")
		checkSafeMessage(t, err.Error(), `\x1b[2J\x00evil`)
		// A reader that fails: the error names the tensor.
		f.r = failingReader{}
		_, err = f.Data(hostileName)
		checkSafeMessage(t, err.Error(), `\x1b[2J\x00evil`)
	})
	t.Run("write", func(t *testing.T) {
		bad := FromFloat32(hostileName, []int64{2}, []float32{1, 2})
		bad.Data = bad.Data[:4]
		err := Encode(io.Discard, []Tensor{bad}, nil)
		if err == nil {
			t.Fatal("no error")
		}
		checkSafeMessage(t, err.Error(), `\x1b[2J\x00evil`)
	})
}

// failingReader fails every read with an error that is not io.EOF.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, io.ErrClosedPipe }
