package wan22

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyFile copies src to dir/name and returns the new path.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
	return dst
}

func TestIdenticalExpertsRefused(t *testing.T) {
	m := tiny
	m.Low = copyFile(t, tiny.High, t.TempDir(), "low.gguf")         // a byte-identical copy of the high-noise expert
	_, err := Open(context.Background(), m, Options{Device: "cpu"}) // refused when it opens, before anything loads
	var me *ModelError
	require.ErrorAs(t, err, &me)
	require.Equal(t, m.Low, me.Path)
	require.ErrorContains(t, err, "same content as the high-noise expert "+tiny.High)

	// Benchmarks may run one expert in both roles.
	q, err := Open(context.Background(), m, Options{Device: "cpu", AllowSameExpert: true})
	require.NoError(t, err)
	defer q.Close()
	_, err = q.Resolve(tinyRequest())
	require.NoError(t, err)

	// The real pair differs.
	_, err = open(t, tiny).Resolve(tinyRequest())
	require.NoError(t, err)
}

func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, b, 0o644))
		return f
	}
	for _, size := range []int{1000, sampleWhole + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i/251)
		}
		a := write("a", data)
		same, _, err := sameContent(a, write("b", data))
		require.NoError(t, err)
		require.True(t, same, "size %d: a copy", size)
		middle := size / 2
		if size > sampleWhole {
			// A large file is compared in sampled ranges: change a byte of
			// the one nearest the middle.
			middle = sampleEnds + 8*(size-2*sampleEnds)/(sampleCount+1)
		}
		for _, at := range []int{0, middle, size - 1} {
			d := bytes.Clone(data)
			d[at] ^= 1
			same, _, err := sameContent(a, write("c", d))
			require.NoError(t, err)
			require.False(t, same, "size %d: one byte differs at %d", size, at)
		}
		same, _, err = sameContent(a, write("d", data[:size-1]))
		require.NoError(t, err)
		require.False(t, same, "size %d: shorter", size)
	}
	_, failed, err := sameContent(filepath.Join(dir, "a"), filepath.Join(dir, "missing"))
	require.True(t, errors.Is(err, os.ErrNotExist))
	require.Equal(t, filepath.Join(dir, "missing"), failed)
}

func TestNameSays(t *testing.T) {
	for name, want := range map[string]string{
		"/m/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors": "high",
		"/m/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors":  "low",
		"Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf":               "high",
		"/x/Wan2.2-I2V-A14B-LowNoise-Q8_0.gguf":               "low",
		"/low/expert.gguf":                                    "", // only the base name counts
		"slow_flow_yellow.gguf":                               "",
		"high_and_low.gguf":                                   "",
		"high.gguf":                                           "high",
	} {
		require.Equal(t, want, nameSays(name), name)
	}
}

// TestExpertContentReadError: an expert file that cannot be read while
// the experts' contents are compared (gone since Open's checks, or a read
// error of the disk) is named once by a *ModelError for its own role, its
// path Go-quoted when it holds a control character, not again, raw, in
// the os package's words; the os package's error is still reachable.
func TestExpertContentReadError(t *testing.T) {
	dir := t.TempDir()
	for _, highGone := range []bool{true, false} {
		gone := filepath.Join(dir, "gone\x1b[31m.gguf")
		p := &Pipeline{models: Models{High: tiny.High, Low: gone}}
		role := "low-noise expert"
		if highGone {
			p.models = Models{High: gone, Low: tiny.Low}
			role = "high-noise expert"
		}
		err := p.checkExpertContent()
		require.EqualError(t, err, role+" "+strconv.Quote(gone)+": cannot be read to compare it with the other expert: no such file or directory")
		var me *ModelError
		require.ErrorAs(t, err, &me)
		require.Equal(t, gone, me.Path)
		require.ErrorIs(t, err, fs.ErrNotExist)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
	}
}
