package sim

import "math/rand/v2"

// Responses are written with append helpers rather than encoding/json: the
// fast model's budget is a few microseconds per request, and reflection-based
// marshalling of a fresh struct per chunk would spend most of it.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendRandomID appends n base62 characters. Ids need uniqueness, not
// secrecy, so the runtime's cheap per-thread generator is enough.
func appendRandomID(dst []byte, n int) []byte {
	var x uint64
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			x = rand.Uint64()
		}
		dst = append(dst, base62[x%62])
		x /= 62
	}
	return dst
}

// appendHashID appends n base62 characters derived from h, for ids that must
// be deterministic (tool call ids), so equal requests yield equal bytes.
func appendHashID(dst []byte, h uint64, n int) []byte {
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			h = mix64(h + uint64(i))
		}
		dst = append(dst, base62[h%62])
		h /= 62
	}
	return dst
}
