package pipeline

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQA14LoRAMissingWords: a LoRA file that is not there is said in one
// sentence, its path once: "LoRA for the high-noise expert: PATH: no such
// file or directory", not "…: lora: stat PATH: no such file or directory".
func TestQA14LoRAMissingWords(t *testing.T) {
	m := tinyModels(t)
	missing := filepath.Join(t.TempDir(), "gone.safetensors")
	err := CheckLoRAs(m, []LoRA{{Path: missing, Strength: 1, Expert: LoRAHigh}})
	require.EqualError(t, err, "LoRA for the high-noise expert: "+missing+": no such file or directory")
	require.ErrorIs(t, err, fs.ErrNotExist)
	var pe *fs.PathError
	require.True(t, errors.As(err, &pe), "%#v", err)
}
