package cuda

import (
	"fmt"
	"strconv"
	"strings"
)

// attn8ShortKeys is the key count up to which the 8-bit modes (int8, fp8) run the bf16 flash kernels, so
// that only self-attention is 8-bit. The INT8 kernel pays for its quantizers once per call, a pass over Q
// and over K and V, while what it saves grows with the keys: on the H100 (docs/BENCHMARKS.md) it takes 1.33×
// the portable bf16 kernel's time over 512 keys (the cross-attention over the text tokens; its quantizers are
// 0.30 of its 1.42 ms) and 0.93–0.96× at 32760 and 75600 keys. The quantizers' ≈ 0.3 ms at 32760 queries × 40
// heads against a saving of 4–12% of the bf16 kernel's ≈ 1.8 µs per key put the break-even at about
// 1400–3900 keys on the H100 (lower on cards whose INT8 rate is twice their bf16 rate). WAN 2.2's key counts
// lie on both sides of that gap, far from it: cross-attention over at most 512 text tokens (769 with an
// image's 257), self-attention over at least ≈ 7800 tokens (17 frames at 480×832) and 32760 at 480p, 81
// frames. 2048 is the flash table's own short/long border (flashShortKeys): every cross-attention runs bf16,
// every self-attention 8-bit. WAN22_ATTN8_SHORT_KEYS overrides it (attn8ShortKeysFrom).
const attn8ShortKeys = flashShortKeys

// attn8ShortKeysEnv names the environment variable that sets the key count up to which the 8-bit modes run
// bf16 instead of attn8ShortKeys: a whole number ≥ 0; 0 runs the 8-bit kernels at every length (to compare
// them with bf16 on short sequences, as the tests of the tiny models do).
const attn8ShortKeysEnv = "WAN22_ATTN8_SHORT_KEYS"

// attn8ShortKeysFrom reads the value of WAN22_ATTN8_SHORT_KEYS: attn8ShortKeys when it is empty, else the
// whole number ≥ 0 it holds, or an error naming the bad value (the caller logs it and uses the default).
// attn8MaxShortKeys bounds the setting (a larger one means bf16 everywhere anyway) so that bound+1 cannot
// overflow.
const attn8MaxShortKeys = 1 << 30

func attn8ShortKeysFrom(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return attn8ShortKeys, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > attn8MaxShortKeys {
		return attn8ShortKeys, fmt.Errorf("%s=%q: want a whole number of keys from 0 to %d (0: 8-bit attention at every length; default %d)", attn8ShortKeysEnv, v, attn8MaxShortKeys, attn8ShortKeys)
	}
	return n, nil
}
