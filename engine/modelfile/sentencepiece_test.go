package modelfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/golden"
)

// spieceWant is how the error for a SentencePiece tokenizer model starts:
// it names the file's kind, not an unrecognised format, and says where
// wan22 takes umT5's tokenizer from instead.
const spieceWant = "a SentencePiece tokenizer model, such as umT5's spiece.model, which is not needed: " +
	"umT5's tokenizer is taken from the text encoder file itself (the tokenizer.ggml.* metadata of a GGUF, the spiece_model tensor of a ComfyUI safetensors); " +
	supported

// TestOpenSentencePiece: opening a SentencePiece .model file (a small
// ModelProto, and the golden tokenizer when the folder is there) fails with
// an error that opens by naming what the file is.
func TestOpenSentencePiece(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spiece.model")
	if err := os.WriteFile(path, []byte("\x0a\x0e\x0a\x05<pad>\x15\x00\x00\x00\x00\x18\x03\x0a\x0d\x0a\x04</s>\x15\x00\x00\x00\x00\x18\x02"), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, path string) {
		t.Helper()
		src, f, err := Open(path)
		if err == nil {
			src.Close()
			t.Fatalf("%s: opened as %v", path, f)
		}
		if want := path + ": " + spieceWant; err.Error() != want || strings.Contains(err.Error(), "unrecognised") {
			t.Errorf("error %q\nwant %q", err, want)
		}
	}
	check(t, path)
	t.Run("golden", func(t *testing.T) { check(t, golden.Path(t, "tokenizer_tiny.model")) })
}
