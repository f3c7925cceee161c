package pjson

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Text is what the string writers accept, so callers append a []byte they scanned or a
// string they built without converting (and copying) one into the other.
type Text interface{ ~string | ~[]byte }

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string with its quotes. It escapes what JSON requires and
// U+2028/U+2029 (which break JavaScript readers of SSE lines), writes invalid UTF-8 as
// U+FFFD so the result is always valid UTF-8 (the host rejects anything else), and leaves
// <, > and & alone: the output is for API clients, not HTML.
func AppendString[T Text](dst []byte, s T) []byte {
	dst = append(dst, '"')
	dst = AppendStringContent(dst, s)
	return append(dst, '"')
}

// AppendStringContent is AppendString without the quotes, for writers that build one JSON
// string from pieces.
func AppendStringContent[T Text](dst []byte, s T) []byte {
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, n := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	return append(dst, s[start:]...)
}

// decodeRune decodes the rune at the start of s. Converting at most utf8.UTFMax bytes to a
// string does not allocate: the compiler keeps short non-escaping conversions on the stack.
func decodeRune[T Text](s T) (rune, int) {
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)]))
}

// AppendKey appends "key": for an object member; key is escaped like any string.
func AppendKey(dst []byte, key string) []byte {
	return append(AppendString(dst, key), ':')
}

// AppendInt appends n as a JSON number.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// AppendFloat appends f as the shortest JSON number that reads back as f. JSON has no NaN
// or infinities, so those are written as 0 rather than producing invalid output.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}

// AppendBool appends true or false.
func AppendBool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }
