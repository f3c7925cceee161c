// Package pjson owns the Go plugin SDK's reflection-free JSON: a scanner that iterates the
// members of an object and the elements of an array as byte ranges of the input, decoders
// for strings and numbers, and append-style writers. encoding/json costs 150–250 µs per KB
// inside wasm because of reflection; this package does the same work with loops over bytes
// and allocates only the decoded strings a caller asks for (Decoder.Str and AppendUnquote
// decode into reusable space).
//
// The grammar is RFC 8259 as encoding/json.Valid accepts it (a fuzz test holds the two in
// agreement), so a plugin never accepts input that the node or an upstream would reject.
package pjson

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting, so hostile input cannot make the scanner recurse without limit
// inside a plugin's small wasm stack.
const MaxDepth = 512

// Kind is the type of a JSON value, known from its first byte.
type Kind uint8

// Kinds of JSON values.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// KindOf returns the kind of v, a complete value as the iterators return it.
func KindOf(v []byte) Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch v[0] {
	case '{':
		return Object
	case '[':
		return Array
	case '"':
		return String
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return Number
	}
	return Invalid
}

// SyntaxError is malformed JSON and the offset where the scanner stopped.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "pjson: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

// ErrTooDeep reports input nested deeper than MaxDepth.
var ErrTooDeep = errors.New("pjson: nesting deeper than MaxDepth")

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// Valid reports whether b is exactly one JSON value, optionally surrounded by whitespace.
func Valid(b []byte) bool { return Validate(b) == nil }

// Validate is Valid with the reason.
func Validate(b []byte) error {
	end, err := skip(b, skipSpace(b, 0), 0)
	if err != nil {
		return err
	}
	if i := skipSpace(b, end); i != len(b) {
		return syntaxErr(i, "data after the top-level value")
	}
	return nil
}

// Skip validates the value that starts at b[i] and returns the index just past it.
func Skip(b []byte, i int) (int, error) { return skip(b, i, 0) }

func skip(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return i, ErrTooDeep
		}
		return skipComposite(b, i, depth+1)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	}
	return i, syntaxErr(i, "invalid character looking for a value")
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, syntaxErr(start, "invalid number")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, syntaxErr(start, "invalid number")
		}
		i = j
	}
	return i, nil
}

// skipString returns the index past the closing quote of the string at b[i]. Invalid UTF-8
// is accepted, as encoding/json.Valid accepts it; decoders replace it with U+FFFD.
func skipString(b []byte, i int) (int, error) {
	start := i
	for i++; i < len(b); {
		// The plain-byte run is the hot loop (prompt text, ids): one table load per byte.
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, syntaxErr(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b[i+2:]); !ok {
					return i, syntaxErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return i, syntaxErr(i, "invalid escape")
			}
		default:
			return i, syntaxErr(i, "control character in string")
		}
	}
	return i, syntaxErr(start, "unterminated string")
}

// plain marks the bytes that need no attention inside a string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func skipComposite(b []byte, i, depth int) (int, error) {
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, syntaxErr(i, "expected an object key")
			}
			if i, err = skipString(b, i); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, syntaxErr(i, "expected ':' after an object key")
			}
			i = skipSpace(b, i+1)
		}
		if i, err = skip(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, syntaxErr(i, "unexpected end of input")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or a closing bracket")
		}
	}
}

// Iter walks the members of an object or the elements of an array without decoding them:
//
//	it := pjson.Members(body)
//	for it.Next() {
//		if it.KeyIs("messages") { ... it.Value() ... }
//	}
//	if err := it.Err(); err != nil { ... }
//
// Every value passed over is validated, so a loop that ends with Err() == nil has seen a
// well-formed object or array. Key, Value and the offsets are views into the input: copy
// what must outlive it. Iter allocates nothing.
type Iter struct {
	b          []byte
	pos        int
	obj        bool
	state      uint8 // 0 before the opening bracket, 1 inside, 2 done
	key, val   []byte
	start, end int
	escaped    bool
	err        error
}

// Members iterates the object that is b (leading and trailing whitespace allowed).
func Members(b []byte) Iter { return Iter{b: b, obj: true} }

// Elements iterates the array that is b (leading and trailing whitespace allowed).
func Elements(b []byte) Iter { return Iter{b: b} }

// Next advances to the next member or element and reports whether there is one.
func (it *Iter) Next() bool {
	if it.err != nil || it.state == 2 {
		return false
	}
	b := it.b
	open, closer, what := byte('['), byte(']'), "array"
	if it.obj {
		open, closer, what = '{', '}', "object"
	}
	i := skipSpace(b, it.pos)
	if it.state == 0 {
		if i >= len(b) || b[i] != open {
			it.err = syntaxErr(i, "expected an "+what)
			return false
		}
		it.state = 1
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return it.finish(i + 1)
		}
	} else {
		switch {
		case i >= len(b):
			it.err = syntaxErr(i, "unterminated "+what)
			return false
		case b[i] == closer:
			return it.finish(i + 1)
		case b[i] != ',':
			it.err = syntaxErr(i, "expected ',' or '"+string(closer)+"' in "+what)
			return false
		}
		i = skipSpace(b, i+1)
	}
	it.start = i
	if it.obj {
		if i >= len(b) || b[i] != '"' {
			it.err = syntaxErr(i, "expected an object key")
			return false
		}
		ke, err := skipString(b, i)
		if err != nil {
			it.err = err
			return false
		}
		it.key = b[i+1 : ke-1]
		it.escaped = hasByte(it.key, '\\')
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			it.err = syntaxErr(i, "expected ':' after an object key")
			return false
		}
		i = skipSpace(b, i+1)
	}
	ve, err := skip(b, i, 1)
	if err != nil {
		it.err = err
		return false
	}
	it.val = b[i:ve]
	it.end, it.pos = ve, ve
	return true
}

func (it *Iter) finish(i int) bool {
	it.state, it.pos = 2, i
	if j := skipSpace(it.b, i); j != len(it.b) {
		it.err = syntaxErr(j, "data after the closing bracket")
	}
	return false
}

// Key is the current member's key as raw bytes between its quotes (escapes not decoded).
// It is nil for arrays.
func (it *Iter) Key() []byte { return it.key }

// KeyIs reports whether the current member's decoded key equals name. A key without
// escapes is compared in place; "mod\u0065l" is still "model", as it is to any decoder.
func (it *Iter) KeyIs(name string) bool {
	if !it.escaped {
		return string(it.key) == name
	}
	var buf [64]byte
	k, ok := appendUnescaped(buf[:0], it.key)
	return ok && string(k) == name
}

// Name returns the current member's key with escapes decoded, using buf only when the key
// holds escapes, so `switch string(it.Name(&buf))` reads keys without allocating.
func (it *Iter) Name(buf *[64]byte) []byte {
	if !it.escaped {
		return it.key
	}
	k, _ := appendUnescaped(buf[:0], it.key)
	return k
}

// Value is the current member's value or the current element, complete (a string keeps its
// quotes).
func (it *Iter) Value() []byte { return it.val }

// Start and End delimit the current member (from its key's opening quote) or element in the
// input, so input[Start:End] reproduces it and a writer can splice around it.
func (it *Iter) Start() int { return it.start }

// End is the index just past the current value.
func (it *Iter) End() int { return it.end }

// Err is the syntax error that stopped the iteration, or nil.
func (it *Iter) Err() error { return it.err }

// Get returns the value of the first member of object obj named key, or nil when obj has
// no such member or is not a well-formed object up to it.
func Get(obj []byte, key string) []byte {
	it := Members(obj)
	for it.Next() {
		if it.KeyIs(key) {
			return it.Value()
		}
	}
	return nil
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// Unquote decodes the JSON string value v (with its quotes). It allocates the result; ok is
// false when v is not a string.
func Unquote(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	raw := v[1 : len(v)-1]
	if !hasByte(raw, '\\') && utf8.Valid(raw) {
		return string(raw), true
	}
	d, ok := appendUnescaped(make([]byte, 0, len(raw)), raw)
	return string(d), ok
}

// AppendUnquote appends the decoded JSON string v (with its quotes) to dst, so a caller with
// a scratch buffer decodes without allocating.
func AppendUnquote(dst, v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return dst, false
	}
	return appendUnescaped(dst, v[1:len(v)-1])
}

// StringIs reports whether the JSON string value v decodes to s, without allocating when v
// holds no escapes.
func StringIs(v []byte, s string) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	raw := v[1 : len(v)-1]
	if !hasByte(raw, '\\') && utf8.Valid(raw) {
		return string(raw) == s
	}
	var buf [64]byte
	d, ok := appendUnescaped(buf[:0], raw)
	return ok && string(d) == s
}

// appendUnescaped decodes a string body. Invalid UTF-8 and unpaired surrogates become
// U+FFFD, as encoding/json decodes them.
func appendUnescaped(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+n]...)
			}
			i += n
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
		var r rune
		switch raw[i+1] {
		case '"', '\\', '/':
			r = rune(raw[i+1])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var ok bool
			if r, ok = hex4(raw[i+2:]); !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, ok = hex4(raw[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		dst = append(dst, byte(r))
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
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// pow10 holds the powers of ten that a float64 represents exactly, for the fast path of
// Float.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Float decodes the JSON number v. Numbers with at most 15 significant digits, no exponent
// and at most 22 decimals (prices, latencies, rates: nearly everything a plugin reads) are
// computed in place as one exact division, which is correctly rounded; anything else goes to
// strconv.ParseFloat. ok is false when v is not a JSON number or overflows.
func Float(v []byte) (f float64, ok bool) {
	if end, err := skipNumber0(v); err != nil || end != len(v) {
		return 0, false
	}
	i, neg := 0, false
	if v[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	nd, frac, dot := 0, 0, false
	for ; i < len(v); i++ {
		c := v[i]
		if c == '.' {
			dot = true
			continue
		}
		if c == 'e' || c == 'E' {
			nd = 99 // exponents take the slow path
			break
		}
		if nd > 0 || c != '0' {
			nd++
		}
		mant = mant*10 + uint64(c-'0')
		if dot {
			frac++
		}
	}
	if nd <= 15 && frac < len(pow10) {
		f = float64(mant) / pow10[frac]
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

// skipNumber0 is skipNumber for a standalone value, guarding the empty case.
func skipNumber0(v []byte) (int, error) {
	if len(v) == 0 {
		return 0, syntaxErr(0, "invalid number")
	}
	return skipNumber(v, 0)
}

// Int decodes the JSON number v when it is written as an integer (no fraction, no exponent)
// that fits in an int64.
func Int(v []byte) (n int64, ok bool) {
	if end, err := skipNumber0(v); err != nil || end != len(v) {
		return 0, false
	}
	i, neg := 0, false
	if v[0] == '-' {
		neg, i = true, 1
	}
	var u uint64
	for ; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (1<<63-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// IsTrue reports whether v is the literal true.
func IsTrue(v []byte) bool { return string(v) == "true" }

// IsNull reports whether v is the literal null.
func IsNull(v []byte) bool { return string(v) == "null" }
