package wan22

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/modelfile"
)

// TestModelErrorPathOnce: a model file that cannot be read is named once,
// by the *ModelError, where the modelfile error it wraps names it too
// ("high-noise expert P: cannot be read: P: no such file or directory");
// a path holding a control character or an invisible character is
// Go-quoted (safetext.Path) as modelfile quotes it, and the wrapped error
// is still reachable (errors.Is, errors.As).
func TestModelErrorPathOnce(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.gguf")
	escaped := filepath.Join(dir, "m\x1b[31m.gguf")
	invisible := filepath.Join(dir, "clip\u202e4pm.gguf")
	for name, c := range map[string]struct {
		path, shown, want string
		is                error
	}{
		"missing":        {missing, missing, "high-noise expert " + missing + ": cannot be read: no such file or directory", fs.ErrNotExist},
		"directory":      {dir, dir, "high-noise expert " + dir + ": cannot be read: it is a directory, not a regular file; pass a model file (.gguf or .safetensors)", nil},
		"control":        {escaped, strconv.Quote(escaped), "high-noise expert " + strconv.Quote(escaped) + ": cannot be read: no such file or directory", fs.ErrNotExist},
		"invisible char": {invisible, strconv.Quote(invisible), "high-noise expert " + strconv.Quote(invisible) + ": cannot be read: no such file or directory", fs.ErrNotExist},
	} {
		m := tiny
		m.High = c.path
		_, err := Open(context.Background(), m, Options{Device: "cpu"})
		require.EqualError(t, err, c.want, name)
		require.Equal(t, 1, strings.Count(err.Error(), c.shown), name)
		var me *ModelError
		require.True(t, errors.As(err, &me), name)
		require.Equal(t, c.path, me.Path, name)
		if c.is != nil {
			require.ErrorIs(t, err, c.is, name)
		}
		if name == "directory" {
			var nr *modelfile.NotRegularError
			require.True(t, errors.As(err, &nr), name)
		}
	}

	// A cause naming another path, or none, is printed whole.
	other := &ModelError{Role: "VAE", Path: "v.safetensors", Msg: "cannot be read", Err: errors.New("w.safetensors: gone")}
	require.EqualError(t, other, "VAE v.safetensors: cannot be read: w.safetensors: gone")
	prefix := &ModelError{Role: "VAE", Path: "v", Msg: "cannot be read", Err: errors.New("v.safetensors: gone")}
	require.EqualError(t, prefix, "VAE v: cannot be read: v.safetensors: gone")
	require.EqualError(t, &ModelError{Role: "VAE", Path: "v\x1b", Msg: "is wrong"}, `VAE "v\x1b": is wrong`)

	// The other expert's path in the message is quoted too.
	copyOf := filepath.Join(dir, "h\x1b.gguf")
	b, err := os.ReadFile(tiny.Low)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copyOf, b, 0o644))
	m := tiny
	m.High = copyOf
	_, err = Open(context.Background(), m, Options{Device: "cpu"})
	require.ErrorContains(t, err, "has the same content as the high-noise expert "+strconv.Quote(copyOf))
	require.NotContains(t, err.Error(), "\x1b")
}

// TestModelErrorNoPath: a role given no file is a *ModelError whose Path
// holds what was given, "", while its message shows the empty name as "".
func TestModelErrorNoPath(t *testing.T) {
	m := tiny
	m.VAE = ""
	_, err := Open(context.Background(), m, Options{Device: "cpu"})
	require.EqualError(t, err, `VAE "": no file given`)
	var me *ModelError
	require.ErrorAs(t, err, &me)
	require.Equal(t, "", me.Path)
}

// TestModelGoneAfterOpen: a model file moved, deleted, cut short or replaced
// by a folder after Open (a long-lived Pipeline of a GUI or a service) is a
// *ModelError naming its role from Resolve and Generate, before any stage
// runs, as Open reports the same file; it was a stage's plain error ("VAE:
// P: no such file or directory"), after the stages before it had run.
func TestModelGoneAfterOpen(t *testing.T) {
	dir := t.TempDir()
	m := Models{High: copyFile(t, tiny.High, dir, "high.gguf"), Low: copyFile(t, tiny.Low, dir, "low.gguf"),
		TextEncoder: copyFile(t, tiny.TextEncoder, dir, "t5.gguf"), VAE: copyFile(t, tiny.VAE, dir, "vae.safetensors")}
	for _, c := range []struct {
		role, path string
		spoil      func(path string) error
		want       string
	}{
		{"VAE", m.VAE, os.Remove, "no such file"},
		{"text encoder", m.TextEncoder, func(p string) error { return os.Truncate(p, 1000) }, "truncated"},
		{"low-noise expert", m.Low, func(p string) error { return errors.Join(os.Remove(p), os.Mkdir(p, 0o755)) }, "directory"},
	} {
		p := open(t, m)
		b, err := os.ReadFile(c.path)
		require.NoError(t, err)
		require.NoError(t, c.spoil(c.path))
		_, rerr := p.Resolve(tinyRequest())
		var stages []Stage
		out := noWork(&stages)
		out.Frame = frames
		gerr := p.Generate(context.Background(), tinyRequest(), out)
		for _, err := range []error{rerr, gerr} {
			var me *ModelError
			require.ErrorAs(t, err, &me, c.role)
			require.Equal(t, c.role, me.Role)
			require.Equal(t, c.path, me.Path)
			require.ErrorContains(t, err, c.want)
		}
		require.Empty(t, stages, c.role)
		require.NoError(t, os.RemoveAll(c.path))
		require.NoError(t, os.WriteFile(c.path, b, 0o644))
	}
}
