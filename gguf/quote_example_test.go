package gguf_test

import (
	"fmt"
	"strings"

	"github.com/wan22/wan22/gguf"
)

// A name from a file is escaped; one longer than 200 bytes of escaped text
// is cut there, closed, and followed by its full length (the middle of the
// 218-byte result is left out here).
func ExampleQuote() {
	fmt.Println(gguf.Quote("blocks.0.attn\x1b[2J"))
	q := gguf.Quote("blocks.0.att" + strings.Repeat("n", 4991))
	fmt.Println(len(q), q[:13], "...", q[196:])
	// Output:
	// "blocks.0.attn\x1b[2J"
	// 218 "blocks.0.att ... nnnnn"… (5003 bytes)
}
