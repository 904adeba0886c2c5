package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/t5"
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

// TestQA14LoRAGoneBeforeLoad: a LoRA file removed after the run checked it
// and before its expert loads is named as a LoRA of that expert, in the
// words of the check: "LoRA for the low-noise expert: PATH: no such file or
// directory", not as the expert's own file ("low-noise expert: PATH: …").
func TestQA14LoRAGoneBeforeLoad(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	path := tinyLoRA(t, 1)
	o.LoRAs = []LoRA{{Path: path, Strength: 1, Expert: LoRALow}}
	o.Progress = func(ev Event) {
		if ev.Stage == TextEncode && ev.Done {
			require.NoError(t, os.Remove(path))
		}
	}
	b := newCounting()
	err := I2V(context.Background(), b, m, testImage(o), o, func([]float32, int) error { return nil })
	require.EqualError(t, err, "LoRA for the low-noise expert: "+path+": no such file or directory")
	require.ErrorIs(t, err, fs.ErrNotExist)
	n, ops := b.alive()
	require.Zero(t, n, "tensors left alive: %v", ops)
}

// TestQA14CancelSaidOnce: a run stopped inside a stage (the VAE's encode or
// decode, the text encoder, resident or streamed, an expert's load) returns
// the context's error in its words alone, "context canceled", as a run
// stopped between the denoising steps does: not "VAE encode: vae: Encode
// stopped: context canceled" or "encoding the prompt: t5: stopped before
// block 0: context canceled". The error still matches context.Canceled
// and wraps the stage's own error, which says where it stopped.
func TestQA14CancelSaidOnce(t *testing.T) {
	m := tinyModels(t)
	for _, tc := range []struct {
		name   string
		stage  Stage // cancelled as this stage's model is given its backend
		stream bool  // a budget that streams the text encoder
	}{
		{"VAE encode", VAEEncode, false},
		{"text encode", TextEncode, false},
		{"text encode streamed", TextEncode, true},
		{"high-noise load", HighNoise, false},
		{"low-noise load", LowNoise, false},
		{"VAE decode", VAEDecode, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := baseOptions()
			o.BackendFor = func(s Stage) engine.Backend {
				if s == tc.stage {
					cancel()
				}
				return nil
			}
			b := &budgeted{counting: newCounting()}
			if tc.stream {
				b.left = streamTextBudget(t, m)
			}
			err := I2V(ctx, b, m, testImage(o), o, func([]float32, int) error { return nil })
			require.EqualError(t, err, "context canceled")
			require.ErrorIs(t, err, context.Canceled)
			require.Contains(t, errors.Unwrap(err).Error(), "stopped")
			n, ops := b.alive()
			require.Zero(t, n, "tensors left alive: %v", ops)
		})
	}
}

// streamTextBudget is the device bytes budgeted's three questions (VAE
// encode, text encode, VAE decode) are answered with for the tiny models m
// to stream the text encoder: one byte short of its resident peak, no limit
// for the VAE.
func streamTextBudget(t *testing.T, m Models) []int64 {
	t.Helper()
	src, _, err := modelfile.Open(m.TextEncoder)
	require.NoError(t, err)
	c, typ, err := t5.Inspect(src)
	src.Close()
	require.NoError(t, err)
	return []int64{0, t5.Peak(c, typ) - 1, 0}
}
