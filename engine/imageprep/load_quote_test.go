package imageprep

import (
	"path/filepath"
	"strings"
	"testing"
)

// A LoadError names a path holding a control character Go-quoted, as the
// model errors do (safetext.Path), so that a library caller printing it sends
// no escape to the terminal; an ordinary path reads as it is.
func TestLoadErrorQuotesPath(t *testing.T) {
	odd := filepath.Join(t.TempDir(), "a\x1b[31mb.png")
	_, err := Load(odd)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\x1b") || !strings.Contains(msg, `a\x1b[31mb.png`) {
		t.Errorf("Load(%q): %q, want the path Go-quoted", odd, msg)
	}
	plain := (&LoadError{Path: "/x/photo.png", Reason: "cannot be decoded"}).Error()
	if plain != "image /x/photo.png: cannot be decoded" {
		t.Errorf("plain path: %q", plain)
	}
}
