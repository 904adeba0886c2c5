package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/wan22/wan22/internal/golden"
)

type goldenCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func loadGoldenCases(t testing.TB) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in tokenizer_tiny_cases.json")
	}
	return cases
}

func loadGoldenModel(t testing.TB) *Tokenizer {
	t.Helper()
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny.model"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromProto(b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func checkGoldenCases(t *testing.T, tok *Tokenizer) {
	for _, c := range loadGoldenCases(t) {
		got := tok.Encode(c.Text)
		if !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q):\n got %v\nwant %v\nnormalized %q", c.Text, got, c.IDs, tok.Normalize(c.Text))
		}
	}
}

func TestGoldenProto(t *testing.T) {
	checkGoldenCases(t, loadGoldenModel(t))
}
