package vae

// Hooks for the external tests.

// DecodeCacheBytes is the decoder's cache memory over an h×w latent.
func DecodeCacheBytes(c Config, h, w int) int64 { return 4 * decodeCacheFloats(c) * int64(h*w) }

// EncodeCacheBytes is the encoder's cache memory over frames of 8h×8w.
func EncodeCacheBytes(c Config, h, w int) int64 { return 4 * encodeCacheFloats(c) * int64(h*w) }
