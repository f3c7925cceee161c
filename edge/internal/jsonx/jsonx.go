// Package jsonx owns the node's allocation-free JSON scanning: validating untrusted bodies,
// iterating the members of an object or the elements of an array as byte ranges, and
// appending JSON strings. The hot path reads only the few fields it needs and splices
// bytes, so it never decodes a body into structs and re-encodes it (DESIGN.md §2).
//
// The grammar accepted is RFC 8259 exactly as encoding/json.Valid accepts it; a fuzz test
// holds the two in agreement.
package jsonx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting so hostile input cannot drive the scanner arbitrarily deep.
const MaxDepth = 1000

// Kind is the type of a JSON value, known from its first byte.
type Kind uint8

// Kinds of JSON values.
const (
	KindInvalid Kind = iota
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

var kindNames = [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}

func (k Kind) String() string { return kindNames[k] }

// SyntaxError reports malformed JSON and the byte offset where scanning stopped.
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonx: %s at offset %d", e.msg, e.Offset)
}

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, msg: msg} }

// ErrTooDeep is returned for input nested deeper than MaxDepth.
var ErrTooDeep = errors.New("jsonx: nesting too deep")

// KindOf returns the kind of the value whose first byte is b.
func KindOf(b byte) Kind {
	switch b {
	case '{':
		return KindObject
	case '[':
		return KindArray
	case '"':
		return KindString
	case 't', 'f':
		return KindBool
	case 'n':
		return KindNull
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return KindNumber
	}
	return KindInvalid
}

// KindOfValue returns the kind of v, a complete value as the iterators return it.
func KindOfValue(v []byte) Kind {
	if len(v) == 0 {
		return KindInvalid
	}
	return KindOf(v[0])
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// SkipSpace returns the index of the first non-whitespace byte at or after i.
func SkipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// Valid reports whether data is exactly one JSON value, optionally surrounded by whitespace.
func Valid(data []byte) bool {
	return Validate(data) == nil
}

// Validate is Valid with the reason.
func Validate(data []byte) error {
	i := SkipSpace(data, 0)
	end, err := SkipValue(data, i)
	if err != nil {
		return err
	}
	if j := SkipSpace(data, end); j != len(data) {
		return syntaxErr(j, "unexpected data after top-level value")
	}
	return nil
}

// SkipValue validates the value starting at data[i] (no leading whitespace) and returns the
// index just past it.
func SkipValue(data []byte, i int) (int, error) {
	return skipValue(data, i, 0)
}

func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := data[i]; c {
	case '"':
		return skipString(data, i)
	case '{':
		return skipObject(data, i, depth+1)
	case '[':
		return skipArray(data, i, depth+1)
	case 't':
		return skipLiteral(data, i, "true")
	case 'f':
		return skipLiteral(data, i, "false")
	case 'n':
		return skipLiteral(data, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return skipNumber(data, i)
		}
		return i, syntaxErr(i, "invalid character "+strconv.QuoteRune(rune(c))+" looking for beginning of value")
	}
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func skipNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return i, syntaxErr(start, "invalid number")
	}
	switch {
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

// strSafe marks bytes that need no attention inside a JSON string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask marks, in the high bit of each byte, the bytes of an 8-byte word of string
// body that are a quote, a backslash or a control character: the SWAR tests of "has a zero
// byte" and "has a byte below n". Higher marks may be false, but the lowest is exact, which
// is all the scanner needs: long strings (message content) cost a few instructions per 8
// bytes, and short ones find their closing quote without a byte loop.
func specialMask(w uint64) uint64 {
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	return ((q-lsb)&^q | (b-lsb)&^b | (w-lsb*0x20)&^w) & msb
}

// skipString returns the index past the closing quote of the string starting at data[i].
func skipString(data []byte, i int) (int, error) {
	start := i
	i++
	for {
		for {
			if i+8 <= len(data) {
				m := specialMask(binary.LittleEndian.Uint64(data[i:]))
				if m == 0 {
					i += 8
					continue
				}
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			for i < len(data) && strSafe[data[i]] {
				i++
			}
			break
		}
		if i >= len(data) {
			return i, syntaxErr(start, "unterminated string")
		}
		switch data[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
			if i >= len(data) {
				return i, syntaxErr(start, "unterminated string")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(data)-i < 5 || !isHex4(data[i+1:i+5]) {
					return i, syntaxErr(i, "invalid \\u escape")
				}
				i += 5
			default:
				return i, syntaxErr(i, "invalid escape")
			}
		default:
			return i, syntaxErr(i, "control character in string")
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func skipObject(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrTooDeep
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, syntaxErr(i, "expected object key")
		}
		var err error
		if i, err = skipString(data, i); err != nil {
			return i, err
		}
		i = SkipSpace(data, i)
		if i >= len(data) || data[i] != ':' {
			return i, syntaxErr(i, "expected ':' after object key")
		}
		i = SkipSpace(data, i+1)
		if i, err = skipValue(data, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(data, i)
		if i >= len(data) {
			return i, syntaxErr(i, "unterminated object")
		}
		switch data[i] {
		case ',':
			i = SkipSpace(data, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or '}' in object")
		}
	}
}

func skipArray(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, ErrTooDeep
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(data, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(data, i)
		if i >= len(data) {
			return i, syntaxErr(i, "unterminated array")
		}
		switch data[i] {
		case ',':
			i = SkipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or ']' in array")
		}
	}
}

// Member is one member of an object, as byte ranges of the scanned input.
type Member struct {
	// Key is the raw key between its quotes, escapes not decoded.
	Key []byte
	// Value is the member's complete value (a string keeps its quotes).
	Value []byte
	// Start and End delimit the whole member in the input: from the key's opening quote to
	// just past the value. Copying input[Start:End] reproduces the member.
	Start, End int
	// escaped reports a backslash in Key, so comparisons must decode it first.
	escaped bool
}

// KeyIs reports whether the member's key, decoded, equals name. Keys without escapes are
// compared in place; an escaped key is decoded first, so `"mod\u0065l"` is "model" here as it
// is to every JSON decoder downstream.
func (m *Member) KeyIs(name string) bool {
	if !m.escaped {
		return string(m.Key) == name
	}
	var buf [64]byte
	k, ok := appendUnescaped(buf[:0], m.Key)
	return ok && string(k) == name
}

// Name returns the member's key with escapes decoded, using buf when it must decode, so a
// caller can switch on string(m.Name(&buf)) without allocating.
func (m *Member) Name(buf *[64]byte) []byte {
	if !m.escaped {
		return m.Key
	}
	k, _ := appendUnescaped(buf[:0], m.Key)
	return k
}

// Objects iterates the members of a JSON object. Use it as
//
//	it := jsonx.Object(data)
//	for it.Next() { m := it.Member(); ... }
//	if err := it.Err(); err != nil { ... }
//
// The iterator validates every value it passes over; Err is non-nil if the input was not a
// well-formed object. It allocates nothing.
type Objects struct {
	data  []byte
	pos   int
	m     Member
	err   error
	state uint8 // 0 start, 1 in members, 2 done
}

// Object starts iterating the object that is data (leading whitespace allowed).
func Object(data []byte) Objects { return Objects{data: data} }

// Next advances to the next member and reports whether there is one.
func (it *Objects) Next() bool {
	if it.err != nil || it.state == 2 {
		return false
	}
	data := it.data
	i, more, err := step(data, it.pos, &it.state, '{', '}', "object")
	if !more {
		it.pos, it.err = i, err
		return false
	}
	if i >= len(data) || data[i] != '"' {
		it.err = syntaxErr(i, "expected object key")
		return false
	}
	start := i
	ke, err := skipString(data, i)
	if err != nil {
		it.err = err
		return false
	}
	i = SkipSpace(data, ke)
	if i >= len(data) || data[i] != ':' {
		it.err = syntaxErr(i, "expected ':' after object key")
		return false
	}
	i = SkipSpace(data, i+1)
	vs := i
	ve, err := skipValue(data, i, 1)
	if err != nil {
		it.err = err
		return false
	}
	// Field by field: a composite literal here builds a temporary and copies it.
	m := &it.m
	m.Key = data[start+1 : ke-1]
	m.Value = data[vs:ve]
	m.Start, m.End = start, ve
	m.escaped = hasEscape(m.Key)
	it.pos = ve
	return true
}

// step moves an iterator to its next item: past the opening bracket on the first call, past
// a comma after that. At the closing bracket it reports more=false with the position just
// past it, and marks the iterator done.
func step(data []byte, pos int, state *uint8, open, close byte, what string) (i int, more bool, err error) {
	i = SkipSpace(data, pos)
	if *state == 0 {
		if i >= len(data) || data[i] != open {
			return i, false, syntaxErr(i, "expected "+what)
		}
		*state = 1
		i = SkipSpace(data, i+1)
		if i < len(data) && data[i] == close {
			*state = 2
			return i + 1, false, nil
		}
		return i, true, nil
	}
	if i >= len(data) {
		return i, false, syntaxErr(i, "unterminated "+what)
	}
	switch data[i] {
	case ',':
		return SkipSpace(data, i+1), true, nil
	case close:
		*state = 2
		return i + 1, false, nil
	}
	return i, false, syntaxErr(i, "expected ',' or '"+string(close)+"' in "+what)
}

// Member returns the current member.
func (it *Objects) Member() *Member { return &it.m }

// Err returns the syntax error that stopped iteration, if any.
func (it *Objects) Err() error { return it.err }

// End returns the index just past the object's closing brace once Next has returned false
// without error.
func (it *Objects) End() int { return it.pos }

// Arrays iterates the elements of a JSON array; it mirrors Objects.
type Arrays struct {
	data  []byte
	pos   int
	v     []byte
	err   error
	state uint8
}

// Array starts iterating the array that is data (leading whitespace allowed).
func Array(data []byte) Arrays { return Arrays{data: data} }

// Next advances to the next element and reports whether there is one.
func (it *Arrays) Next() bool {
	if it.err != nil || it.state == 2 {
		return false
	}
	data := it.data
	i, more, err := step(data, it.pos, &it.state, '[', ']', "array")
	if !more {
		it.pos, it.err = i, err
		return false
	}
	ve, err := skipValue(data, i, 1)
	if err != nil {
		it.err = err
		return false
	}
	it.v = data[i:ve]
	it.pos = ve
	return true
}

// Value returns the current element.
func (it *Arrays) Value() []byte { return it.v }

// Err returns the syntax error that stopped iteration, if any.
func (it *Arrays) Err() error { return it.err }

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// Unquote decodes the JSON string value v (with its quotes). It allocates only when v holds
// escapes. ok is false when v is not a well-formed string.
func Unquote(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	raw := v[1 : len(v)-1]
	if !hasEscape(raw) && utf8.Valid(raw) {
		return string(raw), true
	}
	b, ok := appendUnescaped(make([]byte, 0, len(raw)), raw)
	return string(b), ok
}

// UnquoteBytes is Unquote appending to dst, for callers that keep a scratch buffer.
func UnquoteBytes(dst, v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return dst, false
	}
	return appendUnescaped(dst, v[1:len(v)-1])
}

// appendUnescaped decodes the escapes of a string body (no quotes). Invalid surrogates and
// invalid UTF-8 become U+FFFD, as encoding/json does.
func appendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2, ok := hex4(raw[i+2:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string with its quotes. It escapes what JSON requires and
// U+2028/U+2029, but not <, > and &: the output goes to API clients, not into HTML. Control
// characters other than \n, \r and \t are written as \u00XX (encoding/json writes \b and \f
// in their short form); both decode the same.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendStringContent(dst, s)
	return append(dst, '"')
}

// AppendStringContent is AppendString without the quotes, for writers that build one JSON
// string out of pieces, such as a streamed token inside a template.
func AppendStringContent(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += size
				start = i
				continue
			}
			// U+2028 and U+2029 are valid JSON but break JavaScript evaluators of SSE lines.
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
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
	}
	return append(dst, s[start:]...)
}

// ParseInt reads a JSON number that must be written as an integer: no fraction and no
// exponent, as OpenAI requires of integer fields.
func ParseInt(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// IsNull reports whether v is the literal null.
func IsNull(v []byte) bool { return string(v) == "null" }

// IsTrue reports whether v is the literal true.
func IsTrue(v []byte) bool { return string(v) == "true" }
