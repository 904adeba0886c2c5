// Package plural writes counts of things in English: "1 layer", "40 layers".
package plural

import "strconv"

// Count writes n and the noun, plural (noun + "s") unless n is 1. Nouns
// whose plural is not noun + "s" are not for it.
func Count[N ~int | ~int64](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10) + " " + noun
	if n != 1 {
		s += "s"
	}
	return s
}
