// Package cache owns the prompt cache: which requests may be answered from it (Decide), the
// key an answer is stored under (KeyOf), the form it is stored in (Entry, with Assemble and
// Synthesize to serve a stream from a body and the other way round), the stores (Memory, the
// in-process L1) and the coalescing of identical requests in flight (Flights), and the
// pipeline stage that puts them together (Cache.Stage).
package cache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// Key identifies one cacheable answer: SHA-256 over the tenant scope, the resolved model, the
// route policy and the canonical request.
type Key [sha256.Size]byte

// Inputs are what a key is made of besides the body.
type Inputs struct {
	// Scope is the tenant the entry belongs to (the caller's account by default): entries
	// are never shared across scopes.
	Scope string
	// Model is the resolved model id the request was routed to.
	Model string
	// Policy is the route policy that may change which upstream answers (the raw
	// `provider` object and `models` list); it is canonicalised like the body.
	Policy []byte
}

// excluded are top-level request fields that cannot change the answer's content: how it is
// delivered (stream, stream_options), who asked (user, metadata, session_id), and routing,
// which Inputs carries separately.
var excluded = []string{"stream", "stream_options", "user", "metadata", "session_id", "provider", "models", "route",
	"prompt_cache_key", "model"}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// KeyOf computes the key of a request body (a JSON object). Equal requests give equal keys
// whatever their key order, whitespace, string escapes or number spelling; any change to
// content gives another key.
func KeyOf(in Inputs, body []byte) (Key, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = appendField(b, in.Scope)
	b = appendField(b, in.Model)
	var err error
	if len(bytes.TrimSpace(in.Policy)) > 0 {
		if b, err = Canonical(b, in.Policy, nil); err != nil {
			return Key{}, fmt.Errorf("cache: key: policy: %w", err)
		}
	}
	b = append(b, 0)
	if jsonx.KindOfValue(body) != jsonx.KindObject {
		return Key{}, errors.New("cache: key: body is not a JSON object")
	}
	if b, err = Canonical(b, body, excluded); err != nil {
		return Key{}, fmt.Errorf("cache: key: %w", err)
	}
	*bp = b
	return sha256.Sum256(b), nil
}

// appendField writes a length-prefixed field, so ("ab","c") and ("a","bc") differ.
func appendField(b []byte, s string) []byte {
	n := len(s)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, s...)
}

// Canonical appends the canonical form of the JSON value v: objects with their members
// sorted by decoded key (and the top-level keys in skip left out), no whitespace, strings
// decoded and re-encoded one way, numbers in one exact spelling. Duplicate keys are an
// error: decoders disagree on which one wins.
func Canonical(dst, v []byte, skip []string) ([]byte, error) {
	return canonical(dst, v, skip, 0)
}

type member struct {
	key []byte // decoded
	val []byte
}

func canonical(dst, v []byte, skip []string, depth int) ([]byte, error) {
	if depth > jsonx.MaxDepth {
		return dst, errors.New("nested too deeply")
	}
	v = bytes.TrimSpace(v)
	switch jsonx.KindOfValue(v) {
	case jsonx.KindObject:
		var arr [16]member
		ms := arr[:0]
		it := jsonx.Object(v)
		for it.Next() {
			m := it.Member()
			key := m.Key
			if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
				var ok bool
				if key, ok = jsonx.UnquoteBytes(nil, v[m.Start:m.Start+len(m.Key)+2]); !ok {
					return dst, errors.New("invalid object key")
				}
			}
			if slices.Contains(skip, string(key)) {
				continue
			}
			ms = append(ms, member{key, m.Value})
		}
		if err := it.Err(); err != nil {
			return dst, err
		}
		slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
		dst = append(dst, '{')
		for i, m := range ms {
			if i > 0 {
				if bytes.Equal(ms[i-1].key, m.key) {
					return dst, fmt.Errorf("duplicate key %q", m.key)
				}
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.key)
			dst = append(dst, ':')
			var err error
			if dst, err = canonical(dst, m.val, nil, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case jsonx.KindArray:
		dst = append(dst, '[')
		it := jsonx.Array(v)
		n := 0
		for it.Next() {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			var err error
			if dst, err = canonical(dst, it.Value(), nil, depth+1); err != nil {
				return dst, err
			}
		}
		if err := it.Err(); err != nil {
			return dst, err
		}
		return append(dst, ']'), nil
	case jsonx.KindString:
		if len(v) < 2 || v[len(v)-1] != '"' {
			return dst, errors.New("invalid string")
		}
		if raw := v[1 : len(v)-1]; plain(raw) {
			// Already in canonical form: nothing to unescape and nothing to escape.
			dst = append(dst, '"')
			dst = append(dst, raw...)
			return append(dst, '"'), nil
		}
		s, ok := jsonx.UnquoteBytes(nil, v)
		if !ok {
			return dst, errors.New("invalid string")
		}
		return appendString(dst, s), nil
	case jsonx.KindNumber:
		return appendNumber(dst, v)
	case jsonx.KindBool, jsonx.KindNull:
		if !jsonx.Valid(v) {
			return dst, fmt.Errorf("invalid literal %q", v)
		}
		return append(dst, v...), nil
	}
	return dst, fmt.Errorf("invalid JSON value %q", v)
}

// plain reports whether a string's raw bytes are their own canonical encoding: no escapes,
// nothing jsonx.AppendString would escape (quotes, control bytes, U+2028/U+2029, which
// start with 0xE2), and valid UTF-8. Most prompt text is.
func plain(raw []byte) bool {
	for _, c := range raw {
		if c < 0x20 || c == '"' || c == '\\' || c == 0xE2 {
			return false
		}
	}
	return utf8.Valid(raw)
}

func appendString(dst, s []byte) []byte {
	if plain(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return jsonx.AppendString(dst, string(s))
}

// appendNumber writes a JSON number exactly, in one spelling: its significant digits as
// "0.ddd" times a power of ten ("0.15e1" for 1.5, 15, 1.50 and 150e-2 alike), so no two
// different values meet and no float rounding is involved (a 20-digit seed stays itself).
func appendNumber(dst, v []byte) ([]byte, error) {
	if !jsonx.Valid(v) {
		return dst, fmt.Errorf("invalid number %q", v)
	}
	i, neg := 0, false
	if v[0] == '-' {
		neg, i = true, 1
	}
	var digits []byte
	exp := 0 // the value is 0.<digits> × 10^exp once digits are trimmed
	seenPoint := false
	for ; i < len(v) && v[i] != 'e' && v[i] != 'E'; i++ {
		c := v[i]
		if c == '.' {
			seenPoint = true
			continue
		}
		if len(digits) == 0 && c == '0' {
			if seenPoint {
				exp-- // leading zeros after the point shift the value down
			}
			continue
		}
		digits = append(digits, c)
		if !seenPoint {
			exp++
		}
	}
	if i < len(v) { // exponent
		i++
		eneg := false
		if v[i] == '+' || v[i] == '-' {
			eneg = v[i] == '-'
			i++
		}
		e := 0
		for ; i < len(v); i++ {
			if e > 1e8 {
				return dst, fmt.Errorf("number %q: exponent out of range", v)
			}
			e = e*10 + int(v[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return append(dst, '0'), nil // -0 and 0 are one value
	}
	if neg {
		dst = append(dst, '-')
	}
	dst = append(dst, "0."...)
	dst = append(dst, digits...)
	dst = append(dst, 'e')
	return fmt.Appendf(dst, "%d", exp), nil
}
