package main

// The fourteenth QA pass over wan22 inspect.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
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

// decodeInspectJSON runs `wan22 inspect --json ARGS…` and decodes each line
// of its standard output as one JSON object, checking that there is no
// other text and no control character in it.
func decodeInspectJSON(t *testing.T, args ...string) (code int, objs []map[string]any, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(append([]string{"inspect", "--json"}, args...)...)
	require.False(t, strings.ContainsFunc(stdout, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }), "control character in %q", stdout)
	for _, line := range strings.SplitAfter(stdout, "\n") {
		if line == "" {
			continue
		}
		require.True(t, strings.HasSuffix(line, "\n"), "line %q not ended", line)
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&obj), "line %q", line)
		require.False(t, dec.More(), "more than one object on line %q", line)
		objs = append(objs, obj)
	}
	return code, objs, stderr
}

// jsonInt is a number of a decoded object as an int64.
func jsonInt(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	require.True(t, ok, "%v (%T) is no number", v, v)
	i, err := n.Int64()
	require.NoError(t, err)
	return i
}

// TestInspectJSONQA14: `wan22 inspect --json FILE` prints one JSON object
// per file saying what the text report says: the tiny models' kinds,
// counts and per-type bytes as modelfile.Inspect finds them, metadata with
// values, a LoRA's summary, and -v's tensor list.
func TestInspectJSONQA14(t *testing.T) {
	m := tinyFiles(t)
	code, objs, stderr := decodeInspectJSON(t, m.High, m.TextEncoder, m.VAE)
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stderr)
	require.Len(t, objs, 3)
	for i, c := range []struct {
		path, format, kind, dims string
	}{
		{m.High, "GGUF", "wan_dit", "dit"},
		{m.TextEncoder, "GGUF", "t5_encoder", "t5"},
		{m.VAE, "safetensors", "wan_vae", "vae"},
	} {
		o := objs[i]
		rep, err := modelfile.Inspect(c.path)
		require.NoError(t, err)
		require.Equal(t, "report", o["type"])
		require.Equal(t, c.path, o["path"])
		require.Equal(t, c.format, o["format"])
		require.Equal(t, "model", o["file_kind"])
		require.Equal(t, c.kind, o["model_kind"])
		require.Equal(t, rep.Info.Name(), o["model"])
		require.Equal(t, rep.Info.Summary(), o["architecture"])
		require.Contains(t, o, c.dims)
		require.Equal(t, rep.FileSize, jsonInt(t, o["file_size"]))
		require.Equal(t, int64(rep.Info.Tensors), jsonInt(t, o["tensors"]))
		require.Equal(t, rep.Info.Bytes, jsonInt(t, o["tensor_bytes"]))
		require.Equal(t, rep.Info.Params, jsonInt(t, o["parameters"]))
		require.Equal(t, []any{}, o["problems"])
		require.NotContains(t, o, "tensor_list")
		var sum int64
		types := o["types"].([]any)
		require.Len(t, types, len(rep.Info.Types))
		for j, tt := range types {
			tt := tt.(map[string]any)
			require.Equal(t, rep.Info.Types[j].Type.String(), tt["type"])
			require.Equal(t, int64(rep.Info.Types[j].Count), jsonInt(t, tt["tensors"]))
			sum += jsonInt(t, tt["bytes"])
		}
		require.Equal(t, rep.Info.Bytes, sum)
		require.Len(t, o["metadata"], len(rep.Metadata))
		if c.format == "GGUF" {
			require.Equal(t, int64(rep.GGUFVersion), jsonInt(t, o["gguf_version"]))
			require.Equal(t, rep.GGUFArch, o["general_architecture"])
		} else {
			require.NotContains(t, o, "gguf_version")
			require.NotContains(t, o, "general_architecture")
		}
	}
	dit := objs[0]["dit"].(map[string]any)
	require.Equal(t, "i2v", dit["variant"])
	require.Equal(t, int64(256), jsonInt(t, dit["dim"]))
	require.Equal(t, int64(2), jsonInt(t, dit["layers"]))
	// The encoder's tokenizer metadata: a long array is shown cut, with no value.
	var tokens map[string]any
	for _, e := range objs[1]["metadata"].([]any) {
		if e := e.(map[string]any); e["key"] == "tokenizer.ggml.tokens" {
			tokens = e
		}
	}
	require.NotNil(t, tokens, "no tokenizer.ggml.tokens in %v", objs[1]["metadata"])
	require.Contains(t, tokens["text"], "more)")
	require.NotContains(t, tokens, "value")

	// -v adds the tensor list, in the file's order.
	code, objs, stderr = decodeInspectJSON(t, "-v", m.High)
	require.Equal(t, 0, code, stderr)
	rep, err := modelfile.Inspect(m.High)
	require.NoError(t, err)
	list := objs[0]["tensor_list"].([]any)
	require.Len(t, list, len(rep.Tensors))
	first := list[0].(map[string]any)
	require.Equal(t, rep.Tensors[0].Name, first["name"])
	require.Equal(t, rep.Tensors[0].Type.String(), first["type"])
	require.Equal(t, rep.Tensors[0].Size, jsonInt(t, first["bytes"]))
	require.Len(t, first["shape"], len(rep.Tensors[0].Shape))

	// A LoRA: its summary; a LyCORIS file: an adapter, with why it is not applied.
	dir := t.TempDir()
	lora := writeTinyLoRA(t, dir, "lora.safetensors", 1, "self_attn.q")
	lokr := filepath.Join(dir, "lokr.safetensors")
	require.NoError(t, safetensors.Write(lokr, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lokr_w1", []int64{2, 2}, make([]float32, 4)),
	}, nil))
	code, objs, stderr = decodeInspectJSON(t, lora, lokr)
	require.Equal(t, 0, code, stderr)
	require.Len(t, objs, 2)
	require.Equal(t, "lora", objs[0]["file_kind"])
	require.Equal(t, "unknown", objs[0]["model_kind"])
	l := objs[0]["lora"].(map[string]any)
	require.Equal(t, []any{json.Number("2")}, l["ranks"])
	require.Equal(t, int64(256), jsonInt(t, l["sizes"].(map[string]any)["dim"]))
	require.Equal(t, []any{}, l["fits"]) // the tiny model is no published one: "fits: no known WAN model"
	require.Equal(t, "adapter", objs[1]["file_kind"])
	require.NotContains(t, objs[1], "lora")
	problems := objs[1]["problems"].([]any)
	require.Len(t, problems, 1)
	require.Contains(t, problems[0], `LoRA: not one wan22 can apply: tensor "diffusion_model.blocks.0.self_attn.q.lokr_w1" is a LoKr`)
	_, text, _ := runCLI("inspect", lokr)
	require.Contains(t, text, "  "+problems[0].(string)+"\n", "the JSON's problem is not the text's")
}

// TestInspectJSONMetadataQA14: metadata values are given where the text
// shows them whole and printable, as JSON strings, numbers, booleans and
// arrays; a cut string, NaN and a string that is not UTF-8 have only their
// text. Control characters in a value come out as JSON escapes and decode
// to the value.
func TestInspectJSONMetadataQA14(t *testing.T) {
	dir := t.TempDir()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "wan")
	w.SetKV("n", uint32(7))
	w.SetKV("big", uint64(math.MaxUint64))
	w.SetKV("f", float32(0.5))
	w.SetKV("nan", math.NaN())
	w.SetKV("yes", true)
	w.SetKV("shape", []int32{1, 2, 3})
	w.SetKV("names", []string{"a", "b"})
	w.SetKV("long", strings.Repeat("x", 150))
	w.SetKV("bytes", "\xff\xfe")
	w.SetKV("controls", "esc\x1b del\x7f csi\u009b")
	require.NoError(t, w.AddTensor("w", gguf.TypeF32, []int64{2}, make([]byte, 8)))
	path := filepath.Join(dir, "meta.gguf")
	require.NoError(t, w.WriteFile(path))
	code, objs, stderr := decodeInspectJSON(t, path)
	require.Equal(t, 0, code, stderr)
	o := objs[0]
	require.Equal(t, "unknown", o["file_kind"])
	require.Equal(t, "wan", o["general_architecture"])
	meta := map[string]map[string]any{}
	var order []string
	for _, e := range o["metadata"].([]any) {
		e := e.(map[string]any)
		meta[e["key"].(string)] = e
		order = append(order, e["key"].(string))
	}
	require.Equal(t, []string{"general.architecture", "n", "big", "f", "nan", "yes", "shape", "names", "long", "bytes", "controls"}, order[len(order)-11:])
	for key, want := range map[string]any{
		"general.architecture": "wan",
		"n":                    json.Number("7"),
		"big":                  json.Number("18446744073709551615"),
		"f":                    json.Number("0.5"),
		"yes":                  true,
		"shape":                []any{json.Number("1"), json.Number("2"), json.Number("3")},
		"names":                []any{"a", "b"},
		"controls":             "esc\x1b del\x7f csi\u009b",
	} {
		require.Equal(t, want, meta[key]["value"], key)
	}
	require.Equal(t, "UINT32", meta["n"]["type"])
	require.Equal(t, "ARRAY[3] of INT32", meta["shape"]["type"])
	for _, key := range []string{"nan", "long", "bytes"} {
		require.NotContains(t, meta[key], "value", key)
		require.NotEmpty(t, meta[key]["text"], key)
	}
	require.Contains(t, meta["long"]["text"], "… (150 characters)")

	// safetensors metadata: strings, by key.
	st := filepath.Join(dir, "meta.safetensors")
	require.NoError(t, safetensors.Write(st, []safetensors.Tensor{
		safetensors.FromFloat32("encoder.layer.0.weight", []int64{2, 2}, make([]float32, 4)),
	}, map[string]string{"b": "2", "a": "x\u2028y"}))
	code, objs, stderr = decodeInspectJSON(t, st)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, []any{
		map[string]any{"key": "a", "type": "string", "text": `"x\u2028y"`, "value": "x\u2028y"},
		map[string]any{"key": "b", "type": "string", "text": `"2"`, "value": "2"},
	}, objs[0]["metadata"])
	require.Equal(t, "unknown", objs[0]["model_kind"])
}

// TestInspectJSONErrorsQA14: with --json a file that cannot be read is
// said on stderr, as without it, and is an object of type "error" in its
// place among the reports, the status 1; a usage error (no file, an
// unknown flag wherever it is) is said on stderr and as an error object
// with exit_code 2, the status 2, as i2v --json says its errors.
func TestInspectJSONErrorsQA14(t *testing.T) {
	model, _ := inspectQAFiles(t)
	absent := filepath.Join(t.TempDir(), "absent.gguf")
	code, objs, stderr := decodeInspectJSON(t, model, absent, model)
	require.Equal(t, 1, code)
	require.Equal(t, "wan22 inspect: "+absent+" does not exist\n", stderr)
	require.Len(t, objs, 3)
	require.Equal(t, "report", objs[0]["type"])
	require.Equal(t, map[string]any{"type": "error", "message": absent + " does not exist", "exit_code": json.Number("1")}, objs[1])
	require.Equal(t, "report", objs[2]["type"])

	newer := writeTypedGGUF(t, 43)
	code, objs, stderr = decodeInspectJSON(t, newer)
	require.Equal(t, 1, code)
	require.Len(t, objs, 1)
	require.Equal(t, "error", objs[0]["type"])
	require.Equal(t, "wan22 inspect: "+objs[0]["message"].(string)+"\n", stderr)

	for _, args := range [][]string{{}, {model, "--bogus"}, {"--bogus", model}} {
		code, objs, stderr = decodeInspectJSON(t, args...)
		require.Equal(t, 2, code, "%q", args)
		require.Len(t, objs, 1, "%q", args)
		require.Equal(t, "error", objs[0]["type"], "%q", args)
		require.Equal(t, json.Number("2"), objs[0]["exit_code"], "%q", args)
		require.True(t, strings.HasPrefix(stderr, "wan22 inspect: "+objs[0]["message"].(string)+"\n"), "%q: stderr %q, object %v", args, stderr, objs[0])
	}
	// The flag is asked for after the files too, and not after "--"; a bad
	// flag without --json prints no JSON.
	for _, c := range []struct {
		args []string
		json bool
	}{
		{[]string{model, "--bogus", "--json"}, true},
		{[]string{model, "-json=false", "--bogus"}, false},
		{[]string{model, "--bogus", "--", "--json"}, false},
		{[]string{"--bogus", model}, false},
	} {
		code, stdout, _ := runCLI(append([]string{"inspect"}, c.args...)...)
		require.Equal(t, 2, code)
		require.Equal(t, c.json, strings.HasPrefix(stdout, `{"type":"error"`), "%q: stdout %q", c.args, stdout)
	}
	// A report that cannot be written ends the command as the text's does.
	var errb bytes.Buffer
	require.Equal(t, 1, run([]string{"inspect", "--json", model}, failingStdout{os.ErrClosed}, &errb))
	require.Contains(t, errb.String(), "the report could not be written to standard output")
}

// TestInspectSmallSizesOnceQA14: a size under 1 KiB is printed once, as
// the byte count ("86 bytes"), not "86 B (86 bytes)", in the format and
// tensors lines; from 1 KiB on the size keeps its count beside it. (The
// bytes-by-type table keeps its two columns, count and size, on every row.)
func TestInspectSmallSizesOnceQA14(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small.safetensors")
	require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32("encoder.layer.0.weight", []int64{2, 2}, make([]float32, 4)),
	}, nil))
	code, stdout, stderr := runCLI("inspect", path)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "  format:        safetensors, 104 bytes\n")
	require.Contains(t, stdout, "  tensors:       1, 16 bytes of data, 4 parameters\n")
	require.NotRegexp(t, `\d B \(`, stdout)

	m := tinyFiles(t)
	code, stdout, stderr = runCLI("inspect", m.VAE)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `  format:        safetensors, \d+\.\d\d MiB \(\d+ bytes\)\n`, stdout)
}

// TestInspectAlignedQA14: every line of a report's top level (two spaces,
// a label) has its value in one column, the GGUF general.architecture line
// included ("  general.architecture: wan" stood out by seven columns); a
// GGUF without the key says so in the same place.
func TestInspectAlignedQA14(t *testing.T) {
	m := tinyFiles(t)
	noArch := gguf.NewWriter()
	require.NoError(t, noArch.AddTensor("w", gguf.TypeF32, []int64{2}, make([]byte, 8)))
	bare := filepath.Join(t.TempDir(), "bare.gguf")
	require.NoError(t, noArch.WriteFile(bare))
	code, stdout, stderr := runCLI("inspect", m.High, m.VAE, bare)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "\n  GGUF arch:     wan (general.architecture)\n")
	require.Contains(t, stdout, "\n  GGUF arch:     none (no general.architecture key)\n")
	labels := 0
	for _, line := range strings.Split(stdout, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue // a file's path, a blank line, a table or list row
		}
		label, _, _ := strings.Cut(line, ":")
		if strings.HasSuffix(line, ":") { // "  bytes by type:", "  metadata (3 keys):": a list follows
			continue
		}
		labels++
		require.Greater(t, len(line), 17, "line %q", line)
		require.Equal(t, strings.Repeat(" ", 17-len(label)-1), line[len(label)+1:17], "line %q: its value does not start in column 18", line)
		require.NotEqual(t, byte(' '), line[17], "line %q: its value does not start in column 18", line)
	}
	require.GreaterOrEqual(t, labels, 3*4)
}
