package tokenizer

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/gguf"
)

// Metadata is what FromGGUF reads: the metadata of a GGUF file
// (*gguf.File satisfies it).
type Metadata interface {
	Value(key string) (gguf.Value, bool)
}

// GGUF metadata keys of an embedded tokenizer, as llama.cpp's T5 converter
// writes them (city96's umT5 GGUF files use the same).
const (
	keyModel         = "tokenizer.ggml.model"
	keyTokens        = "tokenizer.ggml.tokens"
	keyScores        = "tokenizer.ggml.scores"
	keyTokenType     = "tokenizer.ggml.token_type"
	keyAddSpace      = "tokenizer.ggml.add_space_prefix"
	keyRemoveExtraWS = "tokenizer.ggml.remove_extra_whitespaces"
	keyCharsmap      = "tokenizer.ggml.precompiled_charsmap"
	keyEOS           = "tokenizer.ggml.eos_token_id"
	keyPad           = "tokenizer.ggml.padding_token_id"
	keyUnk           = "tokenizer.ggml.unknown_token_id"
)

// FromGGUF builds a tokenizer from the tokenizer.ggml.* metadata of a GGUF
// file. tokenizer.ggml.model must be "t5" (SentencePiece unigram), and
// tokens, scores and token_type (SentencePiece piece types) must be present
// and of equal length.
//
// Optional keys: add_space_prefix and remove_extra_whitespaces default to
// true (the SentencePiece defaults); eos/padding/unknown_token_id default to
// the pieces "</s>", "<pad>" and the piece of type UNKNOWN. Spaces are always
// escaped to "▁". Without precompiled_charsmap the NFKC-based fallback
// normalizer is used (see fallbackPrefix).
func FromGGUF(meta Metadata) (*Tokenizer, error) {
	s, err := ggufSpec(meta)
	if err != nil {
		return nil, err
	}
	return build(s)
}

func ggufSpec(meta Metadata) (*spec, error) {
	model, err := ggufString(meta, keyModel)
	if err != nil {
		return nil, err
	}
	if model != "t5" {
		return nil, fmt.Errorf("tokenizer: GGUF %s is %q; only \"t5\" (SentencePiece unigram) is supported", keyModel, model)
	}
	s := &spec{modelType: 1, escapeWS: true, eosPiece: "</s>", padPiece: "<pad>"}
	if s.pieces, err = ggufArray(meta, keyTokens, gguf.Value.Strings); err != nil {
		return nil, err
	}
	if s.scores, err = ggufArray(meta, keyScores, gguf.Value.Float32s); err != nil {
		return nil, err
	}
	types, err := ggufArray(meta, keyTokenType, gguf.Value.Int32s)
	if err != nil {
		return nil, err
	}
	if len(s.scores) != len(s.pieces) || len(types) != len(s.pieces) {
		return nil, fmt.Errorf("tokenizer: GGUF has %d tokens but %d scores and %d token types",
			len(s.pieces), len(s.scores), len(types))
	}
	s.types = make([]PieceType, len(types))
	for i, t := range types {
		s.types[i] = PieceType(t)
	}
	if s.addDummyPrefix, err = ggufBool(meta, keyAddSpace, true); err != nil {
		return nil, err
	}
	if s.removeExtraWS, err = ggufBool(meta, keyRemoveExtraWS, true); err != nil {
		return nil, err
	}
	if v, ok := meta.Value(keyCharsmap); ok {
		if s.charsmap, err = v.Bytes(); err != nil {
			return nil, fmt.Errorf("tokenizer: GGUF %s: %w", keyCharsmap, err)
		}
	}
	for _, k := range []struct {
		key string
		dst *int
	}{{keyEOS, &s.eosID}, {keyPad, &s.padID}, {keyUnk, &s.unkID}} {
		if *k.dst, err = ggufID(meta, k.key); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func ggufString(meta Metadata, key string) (string, error) {
	v, ok := meta.Value(key)
	if !ok {
		return "", fmt.Errorf("tokenizer: GGUF metadata has no %s", key)
	}
	s, err := v.Str()
	if err != nil {
		return "", fmt.Errorf("tokenizer: GGUF %s: %w", key, err)
	}
	return s, nil
}

// ggufArray reads a required array key with the given gguf.Value accessor.
func ggufArray[T any](meta Metadata, key string, get func(gguf.Value) ([]T, error)) ([]T, error) {
	v, ok := meta.Value(key)
	if !ok {
		return nil, fmt.Errorf("tokenizer: GGUF metadata has no %s", key)
	}
	a, err := get(v)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: GGUF %s: %w", key, err)
	}
	return a, nil
}

func ggufBool(meta Metadata, key string, def bool) (bool, error) {
	v, ok := meta.Value(key)
	if !ok {
		return def, nil
	}
	b, err := v.Bool()
	if err != nil {
		return false, fmt.Errorf("tokenizer: GGUF %s: %w", key, err)
	}
	return b, nil
}

// ggufID reads an optional token id; -1 when absent. build checks the range.
func ggufID(meta Metadata, key string) (int, error) {
	v, ok := meta.Value(key)
	if !ok {
		return -1, nil
	}
	id, err := v.Uint64()
	if err != nil {
		return 0, fmt.Errorf("tokenizer: GGUF %s: %w", key, err)
	}
	if id > math.MaxInt32 {
		return 0, fmt.Errorf("tokenizer: GGUF %s = %d is out of range", key, id)
	}
	return int(id), nil
}
