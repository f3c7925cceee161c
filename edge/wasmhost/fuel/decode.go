package fuel

import "fmt"

// reader decodes wasm primitives. Errors are sticky: after the first one every
// read returns zero and does not advance, so callers check r.err once per
// loop iteration instead of after every read.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format+" at offset %d", append([]any{ErrMalformed}, append(args, r.off)...)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n > len(r.b)-r.off {
		r.fail("unexpected end")
		return
	}
	r.off += n
}

// uleb reads an unsigned LEB128 of at most bits bits, rejecting encodings
// that are too long or set bits beyond the width, as the spec requires.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if r.err != nil {
			return 0
		}
		if r.off >= len(r.b) {
			r.fail("unexpected end in LEB128")
			return 0
		}
		c := r.b[r.off]
		r.off++
		if shift+7 >= bits && c>>(bits-shift) != 0 {
			// Last permitted byte: the continuation bit and any bit
			// beyond the width must be clear.
			r.fail("LEB128 overflows %d bits", bits)
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

// sleb reads a signed LEB128 of at most bits bits; unused bits of the last
// byte must be a sign extension.
func (r *reader) sleb(bits uint) int64 {
	var v int64
	for shift := uint(0); ; shift += 7 {
		if r.err != nil {
			return 0
		}
		if r.off >= len(r.b) {
			r.fail("unexpected end in LEB128")
			return 0
		}
		c := r.b[r.off]
		r.off++
		if shift+7 >= bits {
			// Last permitted byte: no continuation, and the bits from
			// the sign bit up must all be equal.
			if c&0x80 != 0 {
				r.fail("LEB128 overflows %d bits", bits)
				return 0
			}
			rest := int8(c<<1) >> (bits - shift) // sign bit and above, sign-extended
			if rest != 0 && rest != -1 {
				r.fail("LEB128 overflows %d bits", bits)
				return 0
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("name length %d runs past the end", n)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// valtype reads a value type; the typed function references proposal adds
// (ref null ht) and (ref ht), which carry a heap type.
func (r *reader) valtype() {
	switch r.byte() {
	case 0x63, 0x64:
		r.sleb(33)
	}
}

// limits reads table or memory limits; flag bit 0 means a maximum follows,
// bit 1 shared (threads), bit 2 64-bit (memory64).
func (r *reader) limits() {
	flags := r.byte()
	if flags > 0x07 {
		r.fail("unknown limits flags 0x%02x", flags)
		return
	}
	r.uleb(64)
	if flags&1 != 0 {
		r.uleb(64)
	}
}

// end checks that a section or body was consumed exactly.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
}

// blockType reads the block type of block, loop, if, try and try_table: an
// s33 that is either a negative one-byte value type code (0x40 for none) or a
// type index; 0x63/0x64 are followed by a heap type.
func (r *reader) blockType() {
	switch r.sleb(33) {
	case -29, -28:
		r.sleb(33)
	}
}

// memarg reads alignment (bit 6 flags a multi-memory index) and offset.
func (r *reader) memarg() {
	if r.u32()&0x40 != 0 {
		r.u32()
	}
	r.uleb(64)
}

// scanInstructions decodes the instructions of one function body, from r.off
// to the end of r.b, and appends to inserts the offset just after every loop's
// block type. It rejects unknown opcodes, a body whose final end is not its
// last byte, and any global.get/set at an index >= globals: that index would
// name the fuel global after the rewrite, letting an invalid module refill its
// own fuel.
func scanInstructions(r *reader, globals uint32, inserts []int) ([]int, error) {
	depth := 1 // the function body's own block
	for depth > 0 {
		if r.err != nil {
			return inserts, r.err
		}
		if r.off >= len(r.b) {
			return inserts, fmt.Errorf("%w: body ends inside a block at offset %d", ErrMalformed, r.off)
		}
		at := r.off
		op := r.b[r.off]
		r.off++
		switch {
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		default:
			switch op {
			case 0x00, 0x01, 0x05, 0x0a, 0x0f, 0x19, 0x1a, 0x1b, 0xd1, 0xd4:
				// unreachable, nop, else, throw_ref, return, catch_all,
				// drop, select, ref.is_null, ref.as_non_null
			case 0x0b: // end
				depth--
			case 0x02, 0x04, 0x06: // block, if, try (legacy)
				r.blockType()
				depth++
			case 0x03: // loop
				r.blockType()
				depth++
				inserts = append(inserts, r.off)
			case 0x1f: // try_table
				r.blockType()
				n := r.u32()
				for i := uint32(0); i < n && r.err == nil; i++ {
					switch kind := r.byte(); kind {
					case 0x00, 0x01: // catch, catch_ref: tag, label
						r.u32()
						r.u32()
					case 0x02, 0x03: // catch_all, catch_all_ref: label
						r.u32()
					default:
						r.fail("unknown catch kind 0x%02x", kind)
					}
				}
				depth++
			case 0x18: // delegate (legacy) closes its try like end
				r.u32()
				depth--
			case 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15,
				0xd5, 0xd6, 0x20, 0x21, 0x22, 0x25, 0x26, 0x3f, 0x40, 0xd2:
				// catch, throw, rethrow, br, br_if, call, return_call,
				// call_ref, return_call_ref, br_on_null, br_on_non_null,
				// local.*, table.get/set, memory.size/grow, ref.func
				r.u32()
			case 0x23, 0x24: // global.get, global.set
				if idx := r.u32(); r.err == nil && idx >= globals {
					return inserts, fmt.Errorf("%w: global index %d out of range (%d globals) at offset %d", ErrMalformed, idx, globals, at)
				}
			case 0x11, 0x13: // call_indirect, return_call_indirect
				r.u32()
				r.u32()
			case 0x0e: // br_table
				n := r.u32()
				for i := uint32(0); i <= n && r.err == nil; i++ {
					r.u32()
				}
			case 0x1c: // select t*
				n := r.u32()
				for i := uint32(0); i < n && r.err == nil; i++ {
					r.valtype()
				}
			case 0x41:
				r.sleb(32)
			case 0x42:
				r.sleb(64)
			case 0x43:
				r.skip(4)
			case 0x44:
				r.skip(8)
			case 0xd0: // ref.null
				r.sleb(33)
			case 0xfc:
				r.prefixFC()
			case 0xfd:
				r.prefixFD()
			case 0xfe:
				r.prefixFE()
			default:
				return inserts, fmt.Errorf("%w: unknown opcode 0x%02x at offset %d", ErrMalformed, op, at)
			}
		}
	}
	if r.err != nil {
		return inserts, r.err
	}
	if r.off != len(r.b) {
		return inserts, fmt.Errorf("%w: %d bytes after the final end at offset %d", ErrMalformed, len(r.b)-r.off, r.off)
	}
	return inserts, nil
}

// prefixFC reads the immediates of the 0xFC prefix: saturating truncation,
// bulk memory and table instructions.
func (r *reader) prefixFC() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub <= 7: // trunc_sat
	case sub == 8, sub == 10, sub == 12, sub == 14:
		// memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub <= 17:
		// data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	default:
		r.fail("unknown opcode 0xfc %d", sub)
	}
}

// prefixFD reads the immediates of the 0xFD (SIMD) prefix. Relaxed SIMD
// (sub-opcodes above 0xFF) is not supported by wazero and is rejected.
func (r *reader) prefixFD() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub <= 11, sub == 92, sub == 93: // loads and stores
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub <= 0xff:
	default:
		r.fail("unknown opcode 0xfd %d", sub)
	}
}

// prefixFE reads the immediates of the 0xFE (threads) prefix.
func (r *reader) prefixFE() {
	switch sub := r.u32(); {
	case r.err != nil:
	case sub == 0x03: // atomic.fence
		r.byte()
	case sub <= 0x02, sub >= 0x10 && sub <= 0x4e:
		r.memarg()
	default:
		r.fail("unknown opcode 0xfe %d", sub)
	}
}

// uleb32Len is the length of v encoded as an unsigned LEB128.
func uleb32Len(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
