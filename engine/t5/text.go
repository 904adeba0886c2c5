package t5

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
)

// TextLen is the number of token positions the Wan pipeline pads a prompt to.
const TextLen = tokenizer.MaxLen

// spieceTensor is the name of the U8 tensor in which ComfyUI stores the
// SentencePiece model protobuf inside umT5 safetensors files.
const spieceTensor = "spiece_model"

// LoadTokenizer returns the tokenizer embedded in a text-encoder file: the
// tokenizer.ggml.* metadata of a GGUF file (city96's umt5-xxl GGUF), or the
// spiece_model tensor of a ComfyUI safetensors file (a SentencePiece model
// protobuf, possibly under a name prefix). Files carrying neither (the
// official Wan checkpoint, most ComfyUI exports) need the tokenizer's
// spiece.model, read with tokenizer.FromProto.
func LoadTokenizer(src gguf.Source) (*tokenizer.Tokenizer, error) {
	if src == nil {
		return nil, errors.New("t5: LoadTokenizer needs a model file")
	}
	if meta, ok := src.(tokenizer.Metadata); ok {
		if _, ok := meta.Value("tokenizer.ggml.model"); ok {
			tok, err := tokenizer.FromGGUF(meta)
			if err != nil {
				return nil, fmt.Errorf("t5: the tokenizer in the GGUF metadata: %w", err)
			}
			return tok, nil
		}
	}
	for _, ti := range src.Tensors() {
		if ti.Name != spieceTensor && !strings.HasSuffix(ti.Name, "."+spieceTensor) {
			continue
		}
		if ti.Type != gguf.TypeU8 && ti.Type != gguf.TypeI8 {
			return nil, fmt.Errorf("t5: tensor %q is %s, want the bytes of a SentencePiece model (U8)", ti.Name, ti.Type)
		}
		b, err := src.Data(ti.Name)
		if err != nil {
			return nil, fmt.Errorf("t5: reading tensor %q: %w", ti.Name, err)
		}
		tok, err := tokenizer.FromProto(b)
		if err != nil {
			return nil, fmt.Errorf("t5: the tokenizer in tensor %q: %w", ti.Name, err)
		}
		return tok, nil
	}
	return nil, errors.New("t5: the model file embeds no tokenizer (no tokenizer.ggml.* metadata, no spiece_model tensor); load the umT5 spiece.model with tokenizer.FromProto")
}

// PromptLength returns the number of tokens of prompt as EncodeText and
// EncodeTextsStreaming tokenize it — cleaned by tokenizer.Clean, EOS
// included — before their truncation to TextLen. Above TextLen the encoder
// reads only the first TextLen tokens, as the official pipeline does, and
// the rest of the prompt has no effect: the caller should tell the user so
// (the pipeline logs a warning). Encoding is not changed by asking.
// It tokenizes the whole prompt: PromptLengthUpTo stops at a count.
func PromptLength(tok *tokenizer.Tokenizer, prompt string) int {
	return tok.Length(tokenizer.Clean(prompt))
}

// PromptLengthUpTo is PromptLength for a caller that needs the count only up
// to n ≥ 0: it returns PromptLength(tok, prompt) when that is at most n,
// else n+1, tokenizing only as much of the prompt as that needs, as
// EncodeText does, so that the tokenization of a prompt of megabytes costs
// what its first n tokens do (tokenizer.Clean still reads all of it).
func PromptLengthUpTo(tok *tokenizer.Tokenizer, prompt string, n int) int {
	return tok.LengthUpTo(tokenizer.Clean(prompt), n)
}

// EncodeText turns a prompt into the DiT's text context the way the Wan
// pipeline does: tokenizer.Clean, tokenization padded to TextLen (EOS
// appended, truncated at 512 tokens silently: PromptLength tells when; the
// tokenizer stops at the 512th), then the encoder. It returns the valid
// rows, ctx [n, Dim] row-major, and n (EOS included); the DiT pads them
// back to TextLen rows itself. ctx stops the encoder between blocks
// (Encoder.Encode).
func EncodeText(ctx context.Context, tok *tokenizer.Tokenizer, enc *Encoder, prompt string) (text []float32, n int, err error) {
	if tok == nil || enc == nil {
		return nil, 0, errors.New("t5: EncodeText needs a tokenizer and an encoder")
	}
	if tok.Vocab() > enc.Vocab {
		return nil, 0, fmt.Errorf("t5: the tokenizer has %d pieces but the encoder's embedding only %d rows: they are not from the same model", tok.Vocab(), enc.Vocab)
	}
	ids, mask := tok.EncodePadded(tokenizer.Clean(prompt), TextLen)
	return enc.Encode(ctx, ids, mask)
}
