package tokenizer

import (
	"fmt"
	"math"
	"strings"

	"github.com/wan22/wan22/gguf"
)

// A synthetic vocabulary is a working SentencePiece unigram vocabulary built
// by code, for text encoders with random weights (benchmarks, the demo). It
// is laid out as umT5's is — control pieces <pad> 0, </s> 1, <unk> 2, then
// the 256 byte pieces <0x00>…<0xFF> — followed by NORMAL pieces in order of
// decreasing score: "▁", "▁"-prefixed common English words, printable ASCII
// characters, CJK punctuation, common Chinese characters (those of the
// official negative prompt among them), then the rest of the CJK Unified
// Ideographs block in code-point order while room remains. Every ASCII text
// and every text of those CJK characters therefore tokenizes without an
// unknown piece. What is left up to the requested size is UNUSED pieces
// "<unused_N>", which give the embedding its real shape and are never
// produced.

// syntheticWords are frequent English words of video prompts.
const syntheticWords = `the a an of and in on at to with from by for is are was it its this that
as into over under through near while his her their he she they man woman person people child girl
boy dog cat bird horse fish car city street road house room window door tree trees forest flower
flowers grass garden field mountain mountains sky cloud clouds sun sunset sunrise moon night day
light lights lighting shadow shadows water sea ocean wave waves river lake rain snow fire smoke
beach sand rock stone wind red blue green yellow white black orange purple pink gold golden silver
dark bright soft warm cold small large big tall long old young beautiful slow slowly fast quickly
walking running walks runs surfing flying swimming dancing sitting standing looking smiling holding
camera shot close up view wide aerial cinematic realistic detailed quality high style scene video
frame background foreground motion moving pan zoom tracking film photo portrait dramatic gentle
calm peaceful vivid colorful glowing reflection face eyes hair hand hands dress shirt hat`

// syntheticPunct are CJK and general punctuation pieces. Fullwidth forms
// normalize to ASCII under NFKC and are listed for models whose charsmap
// keeps them.
const syntheticPunct = "、。〃〈〉《》「」『』【】〔〕〖〗〜・…—‘’“”，；：？！（）～"

// syntheticHanzi are common Chinese characters, those of the official
// negative prompt first.
const syntheticHanzi = "色调艳丽过曝静态细节模糊不清字幕风格作品画面止整体发灰最差质量低压缩残留丑陋的缺多余手指得好部脸畸形毁容肢融合动杂乱背景三条腿人很倒着走" +
	"一是了我在有他这中大来上国个到说们为子和你地出道也时年就那要下以生会自去之过家学对可她里后小么心多天而能都然没日于起还成事只作当想看文无开十用主行方又如前所本见经头公同已老从两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情正名定女问力机给等几业间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共战干接它许八特觉望直服毛林题建南度统字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收钱党倒未持音跑投注拉根群"

// SyntheticMinVocab is the smallest size SyntheticMetadata accepts: the
// control, byte and NORMAL pieces before the fill of CJK ideographs.
var SyntheticMinVocab = func() int { p, _ := syntheticBase(); return len(p) }()

// syntheticBase returns the pieces and types of the fixed part of a
// synthetic vocabulary, without duplicates.
func syntheticBase() ([]string, []PieceType) {
	pieces := []string{"<pad>", "</s>", "<unk>"}
	types := []PieceType{Control, Control, Unknown}
	seen := map[string]bool{}
	for _, p := range pieces {
		seen[p] = true
	}
	add := func(p string, t PieceType) {
		if !seen[p] {
			seen[p] = true
			pieces, types = append(pieces, p), append(types, t)
		}
	}
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), Byte)
	}
	add("▁", Normal)
	for _, w := range strings.Fields(syntheticWords) {
		add("▁"+w, Normal)
	}
	for c := byte('!'); c <= '~'; c++ {
		add(string(c), Normal)
	}
	for _, r := range syntheticPunct + syntheticHanzi {
		add(string(r), Normal)
	}
	return pieces, types
}

// SyntheticVocab returns a synthetic vocabulary of exactly n pieces (see
// the comment at the top of this file): pieces, their scores (NORMAL piece k
// scores −ln(k+2), the others 0) and their SentencePiece types.
func SyntheticVocab(n int) (pieces []string, scores []float32, types []PieceType, err error) {
	pieces, types = syntheticBase()
	if n < len(pieces) {
		return nil, nil, nil, fmt.Errorf("tokenizer: a synthetic vocabulary needs at least %d pieces, got %d", len(pieces), n)
	}
	if n > math.MaxInt32 {
		return nil, nil, nil, fmt.Errorf("tokenizer: a synthetic vocabulary of %d pieces is too large", n)
	}
	base := map[string]bool{}
	for _, p := range pieces {
		base[p] = true
	}
	for r := rune(0x4E00); r <= 0x9FFF && len(pieces) < n; r++ {
		if p := string(r); !base[p] {
			pieces, types = append(pieces, p), append(types, Normal)
		}
	}
	for i := 0; len(pieces) < n; i++ {
		pieces, types = append(pieces, fmt.Sprintf("<unused_%d>", i)), append(types, Unused)
	}
	scores = make([]float32, n)
	k := 0
	for i, t := range types {
		if t == Normal {
			scores[i] = -float32(math.Log(float64(k + 2)))
			k++
		}
	}
	return pieces, scores, types, nil
}

// SyntheticMetadata returns the tokenizer.ggml.* metadata of a synthetic
// vocabulary of n pieces, as FromGGUF reads it: model "t5", tokens, scores,
// token types, add_space_prefix and remove_extra_whitespaces true, eos 1,
// padding 0, unknown 2 and no precompiled charsmap (FromGGUF then uses its
// NFKC fallback normalizer).
func SyntheticMetadata(n int) ([]gguf.KV, error) {
	pieces, scores, types, err := SyntheticVocab(n)
	if err != nil {
		return nil, err
	}
	ts := make([]int32, n)
	for i, t := range types {
		ts[i] = int32(t)
	}
	var kvs []gguf.KV
	for _, kv := range []struct {
		key string
		v   any
	}{
		{keyModel, "t5"},
		{keyTokens, pieces},
		{keyScores, scores},
		{keyTokenType, ts},
		{keyAddSpace, true},
		{keyRemoveExtraWS, true},
		{keyEOS, uint32(1)},
		{keyPad, uint32(0)},
		{keyUnk, uint32(2)},
	} {
		v, err := gguf.NewValue(kv.v)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: synthetic metadata %s: %w", kv.key, err)
		}
		kvs = append(kvs, gguf.KV{Key: kv.key, Value: v})
	}
	return kvs, nil
}
