package lora

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/wan22/wan22/internal/safetext"
)

// Summary describes a LoRA file for `wan22 inspect`.
type Summary struct {
	Name     string
	Style    Style
	Adapters int       // low-rank adapters
	Diffs    int       // full-tensor deltas
	Ranks    []int     // distinct ranks, ascending
	Alphas   []float32 // distinct alphas, ascending (empty: none in the file)
	Types    []string  // distinct stored types of the tensors
	// Layers lists what the file touches, one line per module kind with
	// the blocks it appears in: "self_attn.q: blocks 0-39".
	Layers []string
	Dims   Dims
	Fits   []string // Known models the shapes allow
	// Expert is "high", "low" or "" (unknown): a hint from the file name
	// and metadata, which WAN 2.2 A14B LoRAs commonly carry. Shapes cannot
	// tell the two experts apart.
	Expert string
}

// Inspect opens the LoRA file at path and describes it. It reads the values
// too (CheckWeights): a file with a NaN, an infinity or a weight no LoRA has
// in them is the error wan22 i2v refuses it with, not a description.
func Inspect(path string) (Summary, error) {
	f, err := Open(path)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	if err := f.CheckWeights(); err != nil {
		return Summary{}, err
	}
	return f.Describe(), nil
}

// Describe summarises the file.
func (f *File) Describe() Summary {
	s := Summary{Name: f.Name, Style: f.Style, Adapters: len(f.Adapters), Diffs: len(f.Diffs), Dims: f.Dims(), Fits: f.Fits()}
	blocks := map[string][]int{} // local name → block indices
	var order []string
	types := map[string]bool{}
	touch := func(name, what string) {
		b, local := blockOf(name)
		local += what
		if _, ok := blocks[local]; !ok {
			order = append(order, local)
		}
		if b >= 0 {
			blocks[local] = append(blocks[local], b)
		} else if blocks[local] == nil {
			blocks[local] = []int{}
		}
	}
	for _, a := range f.Adapters {
		if !slices.Contains(s.Ranks, a.Rank) {
			s.Ranks = append(s.Ranks, a.Rank)
		}
		if a.HasAlpha && !slices.Contains(s.Alphas, a.Alpha) {
			s.Alphas = append(s.Alphas, a.Alpha)
		}
		types[f.Type(a.Down).String()], types[f.Type(a.Up).String()] = true, true
		touch(a.Module, "")
	}
	for _, d := range f.Diffs {
		types[f.Type(d.Key).String()] = true
		touch(d.Param, " (delta)")
	}
	slices.Sort(s.Ranks)
	slices.Sort(s.Alphas)
	for t := range types {
		s.Types = append(s.Types, t)
	}
	sort.Strings(s.Types)
	for _, local := range order {
		line := local
		if bs := blocks[local]; len(bs) > 0 {
			line += ": " + ranges(bs)
		}
		s.Layers = append(s.Layers, line)
	}
	s.Expert = f.ExpertHint()
	return s
}

// ranges formats block indices as "blocks 0-3, 7".
func ranges(bs []int) string {
	slices.Sort(bs)
	bs = slices.Compact(bs)
	var parts []string
	for i := 0; i < len(bs); {
		j := i
		for j+1 < len(bs) && bs[j+1] == bs[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, strconv.Itoa(bs[i])+"-"+strconv.Itoa(bs[j]))
		} else {
			parts = append(parts, strconv.Itoa(bs[i]))
		}
		i = j + 1
	}
	word := "blocks "
	if len(bs) == 1 {
		word = "block "
	}
	return word + strings.Join(parts, ", ")
}

// ExpertHint is the WAN 2.2 A14B expert the file is marked for: "high" or
// "low" when its name or a metadata value carries a high- or low-noise
// marker and not the other, else "" (no marker, or both). Shapes cannot
// tell the two experts apart; this is the hint Describe reports and callers
// may warn with.
//
// The file name, and a metadata value without spaces (a name: the output
// name, the base model's file), is split into words at every character
// that is not a letter or digit, and marks an expert with the word high,
// low, highnoise, lownoise, hn or ln, or h or l as its last word
// ("Wan2_2-I2V-HIGH_4steps", "style_low-v2", "HIGH_lightx2v", "style_h"),
// but not where those letters are part of a word ("john_doe", "highlight").
// A longer metadata value (a comment, the tag counts) marks one only with
// high_noise, high-noise, highnoise or high noise (low alike): its words
// "high" and "low" describe the pictures ("high heels", "low angle").
func (f *File) ExpertHint() string {
	var high, low bool
	mark := func(text string, words bool) {
		t := strings.ToLower(text)
		for _, m := range []struct {
			on   *bool
			word string
		}{{&high, "high"}, {&low, "low"}} {
			for _, sep := range []string{"_", "-", "", " "} {
				if strings.Contains(t, m.word+sep+"noise") {
					*m.on = true
				}
			}
		}
		if !words {
			return
		}
		ws := strings.FieldsFunc(t, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
		for i, w := range ws {
			last := i == len(ws)-1
			high = high || w == "high" || w == "hn" || (last && w == "h")
			low = low || w == "low" || w == "ln" || (last && w == "l")
		}
	}
	mark(strings.TrimSuffix(filepath.Base(f.Name), filepath.Ext(f.Name)), true)
	for _, v := range f.Metadata {
		mark(v, !strings.ContainsAny(v, " \t\n"))
	}
	switch {
	case high && !low:
		return "high"
	case low && !high:
		return "low"
	}
	return ""
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  style: %s\n", safetext.Path(s.Name), s.Style)
	fmt.Fprintf(&b, "  adapters: %d, deltas: %d, stored as %s\n", s.Adapters, s.Diffs, strings.Join(s.Types, ", "))
	if len(s.Ranks) > 0 {
		fmt.Fprintf(&b, "  rank: %s", joinInts(s.Ranks))
		if len(s.Alphas) > 0 {
			a := make([]string, len(s.Alphas))
			for i, v := range s.Alphas {
				a[i] = strconv.FormatFloat(float64(v), 'g', -1, 32)
			}
			fmt.Fprintf(&b, ", alpha: %s", strings.Join(a, ", "))
		} else {
			b.WriteString(", no alpha (scale = strength)")
		}
		b.WriteByte('\n')
	}
	b.WriteString("  touches:\n")
	for _, l := range s.Layers {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	d := s.Dims
	var sizes []string
	for _, c := range []struct {
		n string
		v int
	}{{"dim", d.Dim}, {"ffn", d.FFNDim}, {"in", d.InDim}, {"out", d.OutDim}, {"text", d.TextDim}, {"freq", d.FreqDim}} {
		if c.v != 0 {
			sizes = append(sizes, fmt.Sprintf("%s %d", c.n, c.v))
		}
	}
	if len(sizes) == 0 {
		sizes = []string{"none"} // (only Wan 2.1's image embedding, whose sizes are not checked)
	}
	blocks := fmt.Sprintf("at least %d blocks", d.Blocks)
	switch d.Blocks {
	case 0:
		blocks = "adapts no block"
	case 1:
		blocks = "at least 1 block"
	}
	fmt.Fprintf(&b, "  model sizes from its shapes: %s, %s\n", strings.Join(sizes, ", "), blocks)
	if len(s.Fits) > 0 {
		fmt.Fprintf(&b, "  fits: %s\n", strings.Join(s.Fits, "; "))
	} else {
		b.WriteString("  fits: no known WAN model\n")
	}
	switch s.Expert {
	case "high", "low":
		fmt.Fprintf(&b, "  expert: %s noise (from its name or metadata)\n", s.Expert)
	default:
		b.WriteString("  expert: not marked (use it for either, or both with --lora)\n")
	}
	return b.String()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
