package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectSentencePiece: inspect on a SentencePiece tokenizer .model
// file opens by naming what the file is (not "unrecognised file format")
// and says that wan22 takes umT5's tokenizer from the text encoder file.
func TestInspectSentencePiece(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spiece.model")
	if err := os.WriteFile(path, []byte("\x0a\x0e\x0a\x05<pad>\x15\x00\x00\x00\x00\x18\x03\x0a\x0d\x0a\x04</s>\x15\x00\x00\x00\x00\x18\x02"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("inspect", path)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "wan22 inspect: "+path+": a SentencePiece tokenizer model, such as umT5's spiece.model") ||
		!strings.Contains(stderr, "umT5's tokenizer is taken from the text encoder file itself") || strings.Contains(stderr, "unrecognised") {
		t.Errorf("inspect %s: status %d, stdout %q, stderr %q; want 1 and an error that opens by naming a SentencePiece tokenizer model", path, code, stdout, stderr)
	}
}
