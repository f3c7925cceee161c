package sim

import (
	"math/rand/v2"
	"unicode/utf8"
)

// Responses are written with append helpers rather than encoding/json: the
// fast model's budget is a few microseconds per request, and reflection-based
// marshalling of a fresh struct per chunk would spend most of it.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendStringBody(dst, s)
	return append(dst, '"')
}

// appendStringBody appends s escaped for the inside of a JSON string. Invalid
// UTF-8 becomes U+FFFD, as encoding/json does, so that every event stays
// valid JSON whatever bytes the client sent us to echo.
func appendStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript source; escaping keeps
			// naive JS consumers of the stream working.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

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
