package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWholeVariableOutputName: an output file named wholly as a variable no
// shell expanded (--out %VIDEO% in PowerShell, --out '$OUT', synth '$OUT')
// is told that it holds the variable's name, as a folder flag is since
// 5d75905, where checkVideoExt and checkSynthExt, which run first, said it
// had no extension or wanted one ("name the file $OUT.gguf"). A file named
// so that is there, and a name with a variable inside other characters,
// are still the extension checks'.
func TestWholeVariableOutputName(t *testing.T) {
	const name = "WAN22_WHOLEVAR_NOT_SET"
	args, _ := i2vSetup(t)
	t.Chdir(t.TempDir())
	for _, out := range []string{"%" + name + "%", "$" + name, "${" + name + "}"} {
		code, _, stderr := runCLI(append(args, "--out", out)...)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "--out "+out+": it holds the variable's name, not its value", out)
		require.NotContains(t, stderr, "extension", out)

		code, _, stderr = runCLI("synth", "-kind", "dit", out)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, out+": it holds the variable's name, not its value", out)
		require.NotContains(t, stderr, ".gguf", out)
		_, err := os.Lstat(out)
		require.ErrorIs(t, err, os.ErrNotExist, out)

		err = checkOutputPath("--json", out, newFile)
		require.ErrorContains(t, err, "--json "+out+": it holds the variable's name, not its value", out)
	}
	// A value is given to write instead.
	t.Setenv(name, filepath.Join("videos", "v.mp4"))
	_, _, stderr := runCLI(append(args, "--out", "$"+name)...)
	require.Contains(t, stderr, "or write the full path "+filepath.Join("videos", "v.mp4"))

	// Not wholly a variable: the extension is still what is wrong.
	_, _, stderr = runCLI(append(args, "--out", "v$"+name)...)
	require.Contains(t, stderr, "no extension")
	_, _, stderr = runCLI("synth", "-kind", "dit", "m$"+name)
	require.Contains(t, stderr, "name the file m$"+name+".gguf")

	// A file named so that is there is the user's: its extension is wrong.
	v := "$" + name
	require.NoError(t, os.WriteFile(v, nil, 0o644))
	_, _, stderr = runCLI(append(args, "--out", v)...)
	require.Contains(t, stderr, "no extension")
	_, _, stderr = runCLI("synth", "-kind", "dit", v)
	require.True(t, strings.Contains(stderr, "name the file "+v+".gguf"), stderr)
}
