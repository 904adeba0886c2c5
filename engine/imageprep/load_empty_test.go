package imageprep

import (
	"errors"
	"testing"
)

// TestLoadEmptyPath: an empty path is its own refusal, a *LoadError that
// says no path was given, not "image : no such file".
func TestLoadEmptyPath(t *testing.T) {
	_, err := Load("")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load(\"\"): %v, want a *LoadError", err)
	}
	if want := "image: no image path given: give the path of a PNG, JPEG or WebP image"; err.Error() != want {
		t.Errorf("Load(\"\"): %q, want %q", err, want)
	}
}
