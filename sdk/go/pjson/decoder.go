package pjson

// Decoder reads one JSON value front to back in a single pass, for handlers that decode a
// known shape: each byte is looked at once, where the Iter API rescans a nested value at
// every level that skips over it. It is the fast path for large inputs such as hook_route's
// candidate list (the Go wasm backend runs byte loops 7–20× slower than native, so passes
// matter). Use it as
//
//	d := pjson.NewDecoder(in)
//	for d.NextMember() {
//		switch string(d.Key()) {
//		case "candidates":
//			for d.NextElement() { ...consume the element... }
//		case "id":
//			id = d.Str()
//		default:
//			d.Skip()
//		}
//	}
//	if err := d.Finish(); err != nil { ... }
//
// Every member's value and every element must be consumed (by Skip, a reader such as Str
// or Float, or a nested NextMember/NextElement loop) before the next NextMember or
// NextElement: the decoder knows where it is only by the byte under its cursor. After the
// first error every method returns a zero value and Err reports it.
type Decoder struct {
	b     []byte
	i     int
	depth int
	err   error
	key   []byte
	buf   []byte // decoded key or string, reused
	// atValue is true when the cursor is at a value to consume (at the start, and after
	// NextMember or NextElement), false just after one: it tells an opening bracket that
	// starts a container from one that follows a value without a comma.
	atValue bool
}

// NewDecoder starts decoding b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b, atValue: true} }

// Reset starts decoding b with d's scratch space, so a handler can reuse one Decoder.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b, buf: d.buf[:0], atValue: true} }

// Err is the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Finish checks that the whole input was one value, consumed to its end and followed only
// by whitespace, and returns the first error. A caller that stops early on purpose should
// not call it.
func (d *Decoder) Finish() error {
	if d.err == nil {
		if d.atValue || d.depth > 0 {
			d.fail(d.i, "value not consumed to its end")
		} else if i := skipSpace(d.b, d.i); i != len(d.b) {
			d.fail(i, "data after the top-level value")
		}
	}
	return d.err
}

func (d *Decoder) fail(i int, msg string) bool {
	if d.err == nil {
		d.err = syntaxErr(i, msg)
	}
	d.i = len(d.b)
	return false
}

// next advances through a container: at its opening bracket it enters; at a comma it moves
// to the next item; at its closing bracket it leaves and reports false.
func (d *Decoder) next(open, closer byte) bool {
	if d.err != nil {
		return false
	}
	b := d.b
	i := skipSpace(b, d.i)
	if i >= len(b) {
		return d.fail(i, "unexpected end of input")
	}
	c := b[i]
	switch {
	case d.atValue && c == open:
		if d.depth >= MaxDepth {
			d.err = ErrTooDeep
			d.i = len(b)
			return false
		}
		d.depth++
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			d.depth--
			d.i, d.atValue = i+1, false
			return false
		}
	case d.atValue:
		return d.fail(i, "expected '"+string(open)+"'")
	case c == ',' && d.depth > 0:
		i = skipSpace(b, i+1)
	case c == closer && d.depth > 0:
		d.depth--
		d.i = i + 1
		return false
	default:
		return d.fail(i, "expected ',' or '"+string(closer)+"'")
	}
	d.i, d.atValue = i, true
	return true
}

// NextMember moves to the next member of the object under the cursor (entering it on the
// first call) and reads its key; it reports false at the end of the object or on error.
func (d *Decoder) NextMember() bool {
	if !d.next('{', '}') {
		return false
	}
	b, i := d.b, d.i
	if i >= len(b) || b[i] != '"' {
		return d.fail(i, "expected an object key")
	}
	end, err := skipString(b, i)
	if err != nil {
		d.err, d.i = err, len(b)
		return false
	}
	d.key = b[i+1 : end-1]
	if hasByte(d.key, '\\') {
		d.buf, _ = appendUnescaped(d.buf[:0], d.key)
		d.key = d.buf
	}
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return d.fail(i, "expected ':' after an object key")
	}
	d.i = skipSpace(b, i+1)
	return true
}

// Key is the current member's key, decoded. It is valid until the next call on d.
func (d *Decoder) Key() []byte { return d.key }

// NextElement moves to the next element of the array under the cursor (entering it on the
// first call); it reports false at the end of the array or on error.
func (d *Decoder) NextElement() bool { return d.next('[', ']') }

// Pos is the cursor's offset in the input: after NextMember or NextElement, where the
// value starts; after a value is consumed, just past it. A rewriter records Pos around a
// value to splice a replacement in and copy everything else byte for byte.
func (d *Decoder) Pos() int {
	return d.i
}

// Kind is the kind of the value under the cursor, without consuming it.
func (d *Decoder) Kind() Kind {
	if d.err != nil {
		return Invalid
	}
	i := skipSpace(d.b, d.i)
	if i >= len(d.b) {
		return Invalid
	}
	return KindOf(d.b[i : i+1])
}

// Skip consumes the value under the cursor, validating it, and returns it raw.
func (d *Decoder) Skip() []byte {
	if d.err != nil {
		return nil
	}
	i := skipSpace(d.b, d.i)
	end, err := skip(d.b, i, d.depth)
	if err != nil {
		d.err, d.i = err, len(d.b)
		return nil
	}
	d.i, d.atValue = end, false
	return d.b[i:end]
}

// Str consumes a string and returns its decoded bytes: a view of the input when it holds
// no escapes, else of d's scratch space. Either way it is valid only until the next call
// on d; copy it to keep it. A value that is not a string is consumed and reads as nil.
func (d *Decoder) Str() []byte {
	v := d.Skip()
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	raw := v[1 : len(v)-1]
	if !hasByte(raw, '\\') {
		return raw
	}
	d.buf, _ = appendUnescaped(d.buf[:0], raw)
	return d.buf
}

// Float consumes a number. A value of another kind is consumed and reads as 0, false.
func (d *Decoder) Float() (float64, bool) {
	v := d.Skip()
	if KindOf(v) != Number {
		return 0, false
	}
	return Float(v)
}

// Int consumes a number written as an integer.
func (d *Decoder) Int() (int64, bool) {
	v := d.Skip()
	if KindOf(v) != Number {
		return 0, false
	}
	return Int(v)
}

// Bool consumes a value and reports whether it is true.
func (d *Decoder) Bool() bool { return IsTrue(d.Skip()) }
