package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// FormatError reports a malformed SentencePiece model protobuf. Offset is the
// byte offset in the model bytes where the problem was found.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("tokenizer: malformed SentencePiece model at byte %d: %s", e.Offset, e.Msg)
}

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// protoReader walks the fields of one protobuf message held in b. base is
// the absolute offset of b[0] in the whole model, for error messages.
type protoReader struct {
	b    []byte
	off  int
	base int
}

func (r *protoReader) fail(at int, format string, args ...any) error {
	return &FormatError{Offset: r.base + at, Msg: fmt.Sprintf(format, args...)}
}

func (r *protoReader) done() bool { return r.off >= len(r.b) }

func (r *protoReader) varint() (uint64, error) {
	start := r.off
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			return 0, r.fail(start, "truncated varint")
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, r.fail(start, "varint longer than 10 bytes")
}

// key reads a field key and returns its field number and wire type.
func (r *protoReader) key() (field uint64, wire int, err error) {
	start := r.off
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	field, wire = k>>3, int(k&7)
	if field == 0 || field > 1<<29-1 {
		return 0, 0, r.fail(start, "invalid field number %d", field)
	}
	return field, wire, nil
}

func (r *protoReader) bytes() (data []byte, base int, err error) {
	start := r.off
	n, err := r.varint()
	if err != nil {
		return nil, 0, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, 0, r.fail(start, "length %d runs past the end of its message (%d bytes left)", n, len(r.b)-r.off)
	}
	data = r.b[r.off : r.off+int(n)]
	base = r.base + r.off
	r.off += int(n)
	return data, base, nil
}

func (r *protoReader) fixed32() (uint32, error) {
	if len(r.b)-r.off < 4 {
		return 0, r.fail(r.off, "truncated fixed32")
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// skip steps over the value of a field this reader does not use.
func (r *protoReader) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64:
		if len(r.b)-r.off < 8 {
			return r.fail(r.off, "truncated fixed64")
		}
		r.off += 8
		return nil
	case wireBytes:
		_, _, err := r.bytes()
		return err
	case wireFixed32:
		_, err := r.fixed32()
		return err
	default:
		return r.fail(r.off, "unsupported wire type %d", wire)
	}
}

// each calls fn for every field of the message, in order. fn must consume
// the field's value, or call skip for fields it does not use.
func (r *protoReader) each(fn func(field uint64, wire int) error) error {
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		if err := fn(field, wire); err != nil {
			return err
		}
	}
	return nil
}

// expect checks that a known field arrived with the wire type its schema gives.
func (r *protoReader) expect(field uint64, got, want int) error {
	if got != want {
		return r.fail(r.off, "field %d has wire type %d, want %d", field, got, want)
	}
	return nil
}

// varintField reads a varint (int32, bool or enum) field's value.
func (r *protoReader) varintField(field uint64, wire int) (uint64, error) {
	if err := r.expect(field, wire, wireVarint); err != nil {
		return 0, err
	}
	return r.varint()
}

// bytesField reads a string, bytes or embedded-message field's value.
func (r *protoReader) bytesField(field uint64, wire int) (data []byte, base int, err error) {
	if err := r.expect(field, wire, wireBytes); err != nil {
		return nil, 0, err
	}
	return r.bytes()
}

// PieceType is a SentencePiece piece type (ModelProto.SentencePiece.Type).
// GGUF's tokenizer.ggml.token_type uses the same numbering.
type PieceType int32

// Piece types.
const (
	Normal      PieceType = 1 // an ordinary piece, matched by the segmenter
	Unknown     PieceType = 2 // the unknown piece (<unk>)
	Control     PieceType = 3 // a control symbol (<s>, </s>, <pad>), never matched in text
	UserDefined PieceType = 4 // always matched as a whole, bypassing normalization
	Unused      PieceType = 5 // kept in the vocabulary but never produced
	Byte        PieceType = 6 // a byte-fallback piece <0xNN>
)

func (t PieceType) String() string {
	switch t {
	case Normal:
		return "NORMAL"
	case Unknown:
		return "UNKNOWN"
	case Control:
		return "CONTROL"
	case UserDefined:
		return "USER_DEFINED"
	case Unused:
		return "UNUSED"
	case Byte:
		return "BYTE"
	}
	return fmt.Sprintf("PieceType(%d)", int32(t))
}

// spec is a tokenizer description independent of where it came from (a
// SentencePiece protobuf or GGUF metadata); build turns it into a Tokenizer.
type spec struct {
	pieces []string
	scores []float32
	types  []PieceType

	modelType int // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char

	// normalizer
	normName        string
	charsmap        []byte
	addDummyPrefix  bool
	removeExtraWS   bool
	escapeWS        bool
	whitespaceAsSfx bool

	// special pieces: looked up by name when the id is negative
	eosPiece, padPiece  string
	eosID, padID, unkID int
}

// Model types of TrainerSpec.model_type.
var modelTypeNames = map[int]string{1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}

// FromProto builds a tokenizer from the bytes of a SentencePiece model
// protobuf: a .model / spiece.model file, or the spiece_model U8 tensor that
// ComfyUI stores in umT5 safetensors files. The model must be a unigram model.
//
// Only the fields that affect encoding are read:
//
//	ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//	SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
//	TrainerSpec     3 model_type, 24 treat_whitespace_as_suffix, 47 eos_piece, 48 pad_piece
//	NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
//	                4 remove_extra_whitespaces, 5 escape_whitespaces (all three default true)
//
// EOS and padding are the pieces named by eos_piece and pad_piece ("</s>" and
// "<pad>" by default); the unknown id is the piece of type UNKNOWN.
func FromProto(b []byte) (*Tokenizer, error) {
	s, err := parseModelProto(b)
	if err != nil {
		return nil, err
	}
	return build(s)
}

func parseModelProto(b []byte) (*spec, error) {
	s := &spec{
		modelType:      1,
		addDummyPrefix: true,
		removeExtraWS:  true,
		escapeWS:       true,
		eosPiece:       "</s>",
		padPiece:       "<pad>",
		eosID:          -1,
		padID:          -1,
		unkID:          -1,
	}
	if len(b) == 0 {
		return nil, &FormatError{Msg: "empty model"}
	}
	r := &protoReader{b: b}
	err := r.each(func(field uint64, wire int) error {
		var parse func(*protoReader) error
		switch field {
		case 1:
			parse = s.parsePiece
		case 2:
			parse = s.parseTrainerSpec
		case 3:
			parse = s.parseNormalizerSpec
		default:
			return r.skip(wire)
		}
		msg, base, err := r.bytesField(field, wire)
		if err != nil {
			return err
		}
		return parse(&protoReader{b: msg, base: base})
	})
	if err != nil {
		return nil, err
	}
	if len(s.pieces) == 0 {
		return nil, &FormatError{Offset: len(b), Msg: "model has no pieces"}
	}
	return s, nil
}

func (s *spec) parsePiece(r *protoReader) error {
	var (
		text  string
		score float32
		typ   = Normal
	)
	err := r.each(func(field uint64, wire int) error {
		switch field {
		case 1:
			v, _, err := r.bytesField(field, wire)
			text = string(v)
			return err
		case 2:
			if err := r.expect(field, wire, wireFixed32); err != nil {
				return err
			}
			v, err := r.fixed32()
			score = math.Float32frombits(v)
			return err
		case 3:
			at := r.off
			v, err := r.varintField(field, wire)
			if err == nil && (v < uint64(Normal) || v > uint64(Byte)) {
				err = r.fail(at, "piece %d has unknown type %d", len(s.pieces), v)
			}
			typ = PieceType(v)
			return err
		}
		return r.skip(wire)
	})
	if err != nil {
		return err
	}
	if text == "" {
		return r.fail(0, "piece %d is empty", len(s.pieces))
	}
	s.pieces = append(s.pieces, text)
	s.scores = append(s.scores, score)
	s.types = append(s.types, typ)
	return nil
}

func (s *spec) parseTrainerSpec(r *protoReader) error {
	return r.each(func(field uint64, wire int) error {
		switch field {
		case 3:
			v, err := r.varintField(field, wire)
			s.modelType = int(min(v, math.MaxInt32))
			return err
		case 24:
			v, err := r.varintField(field, wire)
			s.whitespaceAsSfx = v != 0
			return err
		case 47:
			v, _, err := r.bytesField(field, wire)
			s.eosPiece = string(v)
			return err
		case 48:
			v, _, err := r.bytesField(field, wire)
			s.padPiece = string(v)
			return err
		}
		return r.skip(wire)
	})
}

func (s *spec) parseNormalizerSpec(r *protoReader) error {
	return r.each(func(field uint64, wire int) error {
		switch field {
		case 1:
			v, base, err := r.bytesField(field, wire)
			if err == nil && !utf8.Valid(v) {
				err = &FormatError{Offset: base, Msg: "normalizer name is not UTF-8"}
			}
			s.normName = string(v)
			return err
		case 2:
			v, _, err := r.bytesField(field, wire)
			s.charsmap = v
			return err
		case 3, 4, 5:
			v, err := r.varintField(field, wire)
			switch field {
			case 3:
				s.addDummyPrefix = v != 0
			case 4:
				s.removeExtraWS = v != 0
			case 5:
				s.escapeWS = v != 0
			}
			return err
		}
		return r.skip(wire)
	})
}
