// JSON over raw UTF-8 bytes in linear memory. The reader never converts its input to an
// AssemblyScript string: it scans in place, compares keys as bytes and decodes a string or
// number only when asked. The writer appends to an unmanaged byte buffer that becomes the
// hook's result without a copy.

import { pack } from "./abi";

/** What a Value holds, told by its first byte. */
export const enum Kind { Invalid = 0, Object, Array, String, Number, True, False, Null }

// Nesting deeper than this is refused rather than risking the shadow stack on hostile input.
const MAX_DEPTH = 128;
/** Returned by the scanners for malformed input. */
export const BAD: usize = usize.MAX_VALUE;

// @ts-ignore: decorator
@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

/** Skips whitespace from p and returns the first other position (or end). */
export function skipSpace(p: usize, end: usize): usize {
  while (p < end && isSpace(load<u8>(p))) p++;
  return p;
}

/**
 * p is at an opening quote: returns the position after the closing one, or BAD for a string
 * JSON does not allow (a raw control character, an unknown escape).
 */
function skipString(p: usize, end: usize): usize {
  p++;
  while (p < end) {
    const c = load<u8>(p);
    if (c == 0x22) return p + 1;
    if (c == 0x5c) {
      if (p + 1 >= end) return BAD;
      const e = load<u8>(p + 1);
      if (e == 0x75) {
        if (end - p < 6 || hex4(p + 2) < 0) return BAD;
        p += 6;
        continue;
      }
      if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) return BAD;
      p += 2;
      continue;
    }
    if (c < 0x20) return BAD;
    p++;
  }
  return BAD;
}

// @ts-ignore: decorator
@inline function isDigit(p: usize, end: usize): bool {
  return p < end && <u32>load<u8>(p) - 0x30 < 10;
}

/** Skips a number as JSON spells it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(p: usize, end: usize): usize {
  if (p < end && load<u8>(p) == 0x2d) p++;
  if (!isDigit(p, end)) return BAD;
  if (load<u8>(p) == 0x30) p++;
  else while (isDigit(p, end)) p++;
  if (p < end && load<u8>(p) == 0x2e) {
    p++;
    if (!isDigit(p, end)) return BAD;
    while (isDigit(p, end)) p++;
  }
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    p++;
    if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
    if (!isDigit(p, end)) return BAD;
    while (isDigit(p, end)) p++;
  }
  return p;
}

function skipLiteral(p: usize, end: usize, lit: string): usize {
  const n = <usize>lit.length;
  if (end - p < n) return BAD;
  for (let i: usize = 0; i < n; i++) {
    if (<u32>load<u8>(p + i) != <u32>lit.charCodeAt(<i32>i)) return BAD;
  }
  return p + n;
}

/** p is at the first byte of a value: returns the position after it, or BAD. */
export function skipValue(p: usize, end: usize, depth: i32 = 0): usize {
  if (p >= end) return BAD;
  const c = load<u8>(p);
  switch (c) {
    case 0x22: return skipString(p, end);
    case 0x74: return skipLiteral(p, end, "true");
    case 0x66: return skipLiteral(p, end, "false");
    case 0x6e: return skipLiteral(p, end, "null");
    case 0x7b:
    case 0x5b: {
      if (depth >= MAX_DEPTH) return BAD;
      const close: u32 = c == 0x7b ? 0x7d : 0x5d;
      p = skipSpace(p + 1, end);
      if (p < end && <u32>load<u8>(p) == close) return p + 1;
      while (p < end) {
        if (c == 0x7b) {
          if (load<u8>(p) != 0x22) return BAD;
          p = skipString(p, end);
          if (p == BAD) return BAD;
          p = skipSpace(p, end);
          if (p >= end || load<u8>(p) != 0x3a) return BAD;
          p = skipSpace(p + 1, end);
        }
        p = skipValue(p, end, depth + 1);
        if (p == BAD) return BAD;
        p = skipSpace(p, end);
        if (p >= end) return BAD;
        const d = <u32>load<u8>(p);
        if (d == close) return p + 1;
        if (d != 0x2c) return BAD;
        p = skipSpace(p + 1, end);
      }
      return BAD;
    }
    default: return skipNumber(p, end);
  }
}

function kindOf(c: u32): Kind {
  switch (c) {
    case 0x7b: return Kind.Object;
    case 0x5b: return Kind.Array;
    case 0x22: return Kind.String;
    case 0x74: return Kind.True;
    case 0x66: return Kind.False;
    case 0x6e: return Kind.Null;
  }
  return (c >= 0x30 && c <= 0x39) || c == 0x2d ? Kind.Number : Kind.Invalid;
}

/** Compares the unescaped bytes [p, p+n) with s (as UTF-8). */
function bytesEqual(p: usize, n: usize, s: string): bool {
  const m = <usize>s.length;
  const u = changetype<usize>(s);
  // UTF-8 never takes fewer bytes than UTF-16 takes code units, and the two lengths are
  // equal exactly when s is ASCII: then bytes and code units compare one to one.
  if (n < m) return false;
  if (n == m) {
    for (let i: usize = 0; i < m; i++) {
      const c = <u32>load<u16>(u + (i << 1));
      if (c >= 0x80) break;
      if (<u32>load<u8>(p + i) != c) return false;
      if (i + 1 == m) return true;
    }
    if (m == 0) return true;
  } else {
    let ascii = true;
    for (let i: usize = 0; i < m; i++) if (load<u16>(u + (i << 1)) >= 0x80) { ascii = false; break; }
    if (ascii) return false;
  }
  const b = String.UTF8.encode(s);
  return n == <usize>b.byteLength && memory.compare(p, changetype<usize>(b), n) == 0;
}

function hasEscape(p: usize, n: usize): bool {
  for (let i: usize = 0; i < n; i++) if (load<u8>(p + i) == 0x5c) return true;
  return false;
}

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  return -1;
}

function hex4(p: usize): i32 {
  let v = 0;
  for (let i: usize = 0; i < 4; i++) {
    const d = hexDigit(load<u8>(p + i));
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

/**
 * Unescapes the string contents [p, p+n) into out (which has room for n bytes: unescaping
 * never grows) and returns the length. Invalid escapes become U+FFFD.
 */
function unescape(p: usize, n: usize, out: usize): usize {
  const end = p + n;
  let o = out;
  while (p < end) {
    let c = <u32>load<u8>(p++);
    if (c != 0x5c || p >= end) { store<u8>(o++, c); continue; }
    c = load<u8>(p++);
    switch (c) {
      case 0x62: store<u8>(o++, 0x08); break;
      case 0x66: store<u8>(o++, 0x0c); break;
      case 0x6e: store<u8>(o++, 0x0a); break;
      case 0x72: store<u8>(o++, 0x0d); break;
      case 0x74: store<u8>(o++, 0x09); break;
      case 0x75: {
        let cp = end - p >= 4 ? hex4(p) : -1;
        if (cp < 0) { cp = 0xfffd; } else { p += 4; }
        if (cp >= 0xd800 && cp < 0xdc00) {
          const lo = end - p >= 6 && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75 ? hex4(p + 2) : -1;
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else cp = 0xfffd;
        } else if (cp >= 0xdc00 && cp < 0xe000) cp = 0xfffd;
        o = putRune(o, <u32>cp);
        break;
      }
      default: store<u8>(o++, c); // \" \\ \/
    }
  }
  return o - out;
}

function putRune(o: usize, cp: u32): usize {
  if (cp < 0x80) { store<u8>(o, cp); return o + 1; }
  if (cp < 0x800) {
    store<u8>(o, 0xc0 | (cp >> 6)); store<u8>(o + 1, 0x80 | (cp & 0x3f)); return o + 2;
  }
  if (cp < 0x10000) {
    store<u8>(o, 0xe0 | (cp >> 12)); store<u8>(o + 1, 0x80 | ((cp >> 6) & 0x3f));
    store<u8>(o + 2, 0x80 | (cp & 0x3f)); return o + 3;
  }
  store<u8>(o, 0xf0 | (cp >> 18)); store<u8>(o + 1, 0x80 | ((cp >> 12) & 0x3f));
  store<u8>(o + 2, 0x80 | ((cp >> 6) & 0x3f)); store<u8>(o + 3, 0x80 | (cp & 0x3f));
  return o + 4;
}

// Powers of ten exact in f64, for the fast path of number decoding.
const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/** Decodes the number token [p, end); NaN if it is not one. */
export function parseNumber(p: usize, end: usize): f64 {
  const start = p;
  let neg = false;
  if (p < end && load<u8>(p) == 0x2d) { neg = true; p++; }
  let mant: u64 = 0;
  let digits = 0;
  let exp: i32 = 0;
  let any = false;
  while (p < end) {
    const c = <u32>load<u8>(p) - 0x30;
    if (c > 9) break;
    any = true;
    if (digits < 19) { mant = mant * 10 + c; if (mant != 0) digits++; } else exp++;
    p++;
  }
  if (p < end && load<u8>(p) == 0x2e) {
    p++;
    while (p < end) {
      const c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      any = true;
      if (digits < 19) { mant = mant * 10 + c; if (mant != 0) digits++; exp--; }
      p++;
    }
  }
  if (!any) return NaN;
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    p++;
    let eneg = false;
    if (p < end && (load<u8>(p) == 0x2d || load<u8>(p) == 0x2b)) { eneg = load<u8>(p) == 0x2d; p++; }
    let e: i32 = 0;
    let ed = false;
    while (p < end) {
      const c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      if (e < 100000) e = e * 10 + <i32>c;
      ed = true;
      p++;
    }
    if (!ed) return NaN;
    exp += eneg ? -e : e;
  }
  if (p != end) return NaN;
  // Clinger's fast path: a mantissa below 2^53 times an exact power of ten rounds once, so
  // the result is correctly rounded. The rest (rare in hook payloads) takes the standard
  // library's slower decoder on a string copy.
  let v = <f64>mant;
  if (mant < (<u64>1 << 53) && digits <= 19) {
    if (exp == 0) return neg ? -v : v;
    if (exp < 0 && exp >= -22) { v /= unchecked(POW10[-exp]); return neg ? -v : v; }
    if (exp > 0 && exp <= 22 + 15) {
      let e = exp;
      if (e > 22) {
        // move the excess into the mantissa while it stays exact
        v *= unchecked(POW10[e - 22]);
        e = 22;
        if (v >= 9007199254740992) return parseFloat(String.UTF8.decodeUnsafe(start, end - start));
      }
      v *= unchecked(POW10[e]);
      return neg ? -v : v;
    }
  }
  return parseFloat(String.UTF8.decodeUnsafe(start, end - start));
}

/**
 * One JSON value: a view of bytes [ptr, ptr+len) of linear memory, valid as long as those
 * bytes are (for a hook input: until the hook returns).
 *
 * The end of an object or array is found lazily: iterating it to the end records it, and
 * only a container that is skipped unread is scanned a second time. So walking a document
 * with Members and Elements reads each byte about once.
 */
export class Value {
  /** First byte of the value. */
  ptr: usize = 0;
  kind: Kind = Kind.Invalid;
  // The end, or 0 while a container's end is not known yet; limit bounds the search.
  private stop: usize = 0;
  private limit: usize = 0;

  constructor(ptr: usize = 0, len: usize = 0, kind: Kind = Kind.Invalid) {
    this.ptr = ptr;
    this.stop = ptr + len;
    this.limit = ptr + len;
    this.kind = kind;
  }

  /**
   * Parses and validates the whole input [ptr, ptr+len); the result's kind is Invalid if it
   * is not one JSON value.
   */
  static parse(ptr: usize, len: usize): Value {
    const end = ptr + len;
    const p = skipSpace(ptr, end);
    const e = skipValue(p, end);
    if (e == BAD || skipSpace(e, end) != end) return new Value(ptr, 0, Kind.Invalid);
    return new Value(p, e - p, kindOf(load<u8>(p)));
  }

  /**
   * Views the input [ptr, ptr+len) without validating it first: the fast way into a hook's
   * input. Malformed parts show up as err on the iterators that reach them, and as Invalid
   * values; bytes after the first value are ignored.
   */
  static of(ptr: usize, len: usize): Value {
    const v = new Value();
    v.start(skipSpace(ptr, ptr + len), ptr + len);
    return v;
  }

  /** Points this at the value starting at p, which must end by limit. */
  start(p: usize, limit: usize): bool {
    this.ptr = p;
    this.limit = limit;
    this.stop = 0;
    const k = p < limit ? kindOf(load<u8>(p)) : Kind.Invalid;
    this.kind = k;
    if (k == Kind.Object || k == Kind.Array) return true;
    if (k == Kind.Invalid) return false;
    const e = skipValue(p, limit);
    if (e == BAD) { this.kind = Kind.Invalid; return false; }
    this.stop = e;
    return true;
  }

  /** Records where a container ends, once an iterator has reached its closing bracket. */
  ended(e: usize): void { this.stop = e; }

  /** The position after the value; BAD if it is malformed. Scans a container not yet read. */
  get end(): usize {
    if (this.stop == 0) {
      if (this.kind == Kind.Invalid) return BAD;
      const e = skipValue(this.ptr, this.limit);
      if (e == BAD) { this.kind = Kind.Invalid; return BAD; }
      this.stop = e;
    }
    return this.stop;
  }

  /** Length in bytes of the value's JSON text (0 if it is malformed). */
  get len(): usize {
    const e = this.end;
    return e == BAD ? 0 : e - this.ptr;
  }

  /** Where a nested iterator may look for this container's closing bracket. */
  get bound(): usize { return this.stop != 0 ? this.stop : this.limit; }

  /** A copy that survives the iterator that produced this value moving on. */
  clone(): Value {
    const v = new Value();
    v.ptr = this.ptr;
    v.kind = this.kind;
    v.stop = this.stop;
    v.limit = this.limit;
    return v;
  }

  get valid(): bool { return this.kind != Kind.Invalid; }
  get isNull(): bool { return this.kind == Kind.Null; }
  get isString(): bool { return this.kind == Kind.String; }
  get isNumber(): bool { return this.kind == Kind.Number; }
  get isObject(): bool { return this.kind == Kind.Object; }
  get isArray(): bool { return this.kind == Kind.Array; }

  /** true for JSON true; false for anything else. */
  get bool(): bool { return this.kind == Kind.True; }

  /** The number, or def if this is not one. */
  f64(def: f64 = 0): f64 {
    if (this.kind != Kind.Number) return def;
    const v = parseNumber(this.ptr, this.stop);
    return isNaN(v) ? def : v;
  }

  /** The number truncated toward zero (310.9 → 310), or def if this is not one. */
  i64(def: i64 = 0): i64 {
    if (this.kind != Kind.Number) return def;
    let p = this.ptr;
    const end = this.stop;
    const neg = load<u8>(p) == 0x2d;
    if (neg) p++;
    let v: i64 = 0;
    let n = 0;
    while (p < end) {
      const c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      v = v * 10 + <i64>c;
      p++;
      n++;
    }
    // An exponent, or more digits than an i64 surely holds, needs the general decoder.
    if (n > 18 || (p < end && load<u8>(p) != 0x2e) || hasExponent(p, end)) {
      const f = this.f64(NaN);
      if (isNaN(f)) return def;
      if (f >= 9.2e18) return i64.MAX_VALUE;
      if (f <= -9.2e18) return i64.MIN_VALUE;
      return <i64>f;
    }
    if (n == 0) return def;
    return neg ? -v : v;
  }

  /** Start of the string's contents (after the quote); use with strLen. */
  get strPtr(): usize { return this.kind == Kind.String ? this.ptr + 1 : 0; }
  /** Length in bytes of the string's raw (still escaped) contents. */
  get strLen(): usize { return this.kind == Kind.String ? this.stop - this.ptr - 2 : 0; }

  /** Whether this is a string equal to s, compared as UTF-8 without allocating for ASCII s. */
  is(s: string): bool {
    if (this.kind != Kind.String) return false;
    const p = this.ptr + 1, n = this.stop - this.ptr - 2;
    if (!hasEscape(p, n)) return bytesEqual(p, n, s);
    return this.str() == s;
  }

  /** The decoded string, or def if this is not a string. Allocates. */
  str(def: string = ""): string {
    if (this.kind != Kind.String) return def;
    const p = this.ptr + 1, n = this.stop - this.ptr - 2;
    if (!hasEscape(p, n)) return String.UTF8.decodeUnsafe(p, n);
    const tmp = heap.alloc(max<usize>(n, 1));
    const m = unescape(p, n, tmp);
    const s = String.UTF8.decodeUnsafe(tmp, m);
    heap.free(tmp);
    return s;
  }

  /** The raw JSON text of this value. Allocates. */
  toString(): string { return String.UTF8.decodeUnsafe(this.ptr, this.len); }

  /** Iterates an object's members (none if this is not an object). */
  members(): Members { return new Members(this); }
  /** Iterates an array's elements (none if this is not an array). */
  elements(): Elements { return new Elements(this); }

  /** The value of the first member named key, or an Invalid value. */
  get(key: string): Value {
    const it = new Members(this);
    while (it.next()) if (it.keyIs(key)) return it.value.clone();
    return new Value();
  }
}

function hasExponent(p: usize, end: usize): bool {
  while (p < end) {
    if ((load<u8>(p) | 0x20) == 0x65) return true;
    p++;
  }
  return false;
}

/**
 * Iterates an object's members. value is reused: it describes the current member until
 * next() is called again (clone() it to keep it). After the loop, err tells a malformed
 * object from an ended one. Reaching the end records it in the object's Value, so that an
 * enclosing iterator does not scan the object again.
 */
export class Members {
  value: Value = new Value();
  keyPtr: usize = 0;
  keyLen: usize = 0;
  err: bool = false;
  private obj: Value | null = null;
  private p: usize = 0;
  private end: usize = 0;
  private first: bool = true;
  private done: bool = true;

  constructor(obj: Value) { this.reset(obj); }

  /** Restarts the iteration over obj, so that one iterator can serve many objects. */
  reset(obj: Value): void {
    this.obj = obj;
    this.err = false;
    this.first = true;
    this.done = obj.kind != Kind.Object;
    this.p = obj.ptr + 1;
    this.end = obj.bound;
  }

  next(): bool {
    if (this.done) return false;
    const end = this.end;
    let p = this.p;
    if (!this.first) {
      p = this.value.end;
      if (p == BAD) return this.fail();
    }
    p = skipSpace(p, end);
    if (p >= end) return this.fail();
    let c = load<u8>(p);
    if (!this.first) {
      if (c == 0x7d) return this.close(p);
      if (c != 0x2c) return this.fail();
      p = skipSpace(p + 1, end);
      if (p >= end) return this.fail();
      c = load<u8>(p);
    } else if (c == 0x7d) return this.close(p);
    if (c != 0x22) return this.fail();
    const k = skipString(p, end);
    if (k == BAD) return this.fail();
    this.keyPtr = p + 1;
    this.keyLen = k - p - 2;
    p = skipSpace(k, end);
    if (p >= end || load<u8>(p) != 0x3a) return this.fail();
    if (!this.value.start(skipSpace(p + 1, end), end)) return this.fail();
    this.first = false;
    return true;
  }

  /** Whether the current key equals key (compared as bytes; escaped keys are decoded). */
  keyIs(key: string): bool {
    if (!hasEscape(this.keyPtr, this.keyLen)) return bytesEqual(this.keyPtr, this.keyLen, key);
    return this.key() == key;
  }

  /** The current key, decoded. Allocates. */
  key(): string {
    return new Value(this.keyPtr - 1, this.keyLen + 2, Kind.String).str();
  }

  private close(p: usize): bool {
    this.done = true;
    changetype<Value>(this.obj).ended(p + 1);
    return false;
  }

  private fail(): bool {
    this.err = true;
    this.done = true;
    return false;
  }
}

/** Iterates an array's elements; value is reused as in Members. */
export class Elements {
  value: Value = new Value();
  err: bool = false;
  private arr: Value | null = null;
  private p: usize = 0;
  private end: usize = 0;
  private first: bool = true;
  private done: bool = true;

  constructor(arr: Value) { this.reset(arr); }

  reset(arr: Value): void {
    this.arr = arr;
    this.err = false;
    this.first = true;
    this.done = arr.kind != Kind.Array;
    this.p = arr.ptr + 1;
    this.end = arr.bound;
  }

  next(): bool {
    if (this.done) return false;
    const end = this.end;
    let p = this.p;
    if (!this.first) {
      p = this.value.end;
      if (p == BAD) return this.fail();
    }
    p = skipSpace(p, end);
    if (p >= end) return this.fail();
    const c = load<u8>(p);
    if (c == 0x5d) {
      this.done = true;
      changetype<Value>(this.arr).ended(p + 1);
      return false;
    }
    if (!this.first) {
      if (c != 0x2c) return this.fail();
      p = skipSpace(p + 1, end);
    }
    if (!this.value.start(p, end)) return this.fail();
    this.first = false;
    return true;
  }

  private fail(): bool {
    this.err = true;
    this.done = true;
    return false;
  }
}

const HEX = "0123456789abcdef";

/**
 * Builds JSON in an unmanaged buffer. Commas are placed automatically; key() before each
 * member value. finish() hands the buffer to the host as the packed result (the host frees it
 * with plugin_free); a writer that is dropped instead must be discard()ed, or its buffer leaks
 * for the life of the instance.
 */
export class Writer {
  buf: usize;
  len: usize = 0;
  private cap: usize;
  // One bit per open container: set once it holds an element, so the next one needs a comma.
  private commas: u64 = 0;

  constructor(capacity: usize = 256) {
    this.cap = max<usize>(capacity, 16);
    this.buf = heap.alloc(this.cap);
  }

  private grow(n: usize): void {
    let c = max<usize>(this.cap << 1, 16);
    while (c < this.len + n) c <<= 1;
    // heap.realloc(0, n) aborts, and a finished writer has no buffer.
    this.buf = this.buf == 0 ? heap.alloc(c) : heap.realloc(this.buf, c);
    this.cap = c;
  }

  // @ts-ignore: decorator
  @inline private reserve(n: usize): void {
    if (this.len + n > this.cap) this.grow(n);
  }

  // @ts-ignore: decorator
  @inline private put(c: u32): void {
    this.reserve(1);
    store<u8>(this.buf + this.len++, c);
  }

  private sep(): void {
    if (this.commas & 1) this.put(0x2c);
    this.commas |= 1;
  }

  /** Appends bytes [p, p+n) as they are: they must already be valid JSON in context. */
  bytes(p: usize, n: usize): Writer {
    this.reserve(n);
    memory.copy(this.buf + this.len, p, n);
    this.len += n;
    return this;
  }

  /** Appends s as it is (no comma, no escaping): for punctuation and prepared JSON text. */
  raw(s: string): Writer {
    const n = <usize>String.UTF8.byteLength(s);
    this.reserve(n);
    this.len += String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf + this.len);
    return this;
  }

  beginObject(): Writer { this.sep(); this.put(0x7b); this.commas <<= 1; return this; }
  endObject(): Writer { this.put(0x7d); this.commas >>= 1; return this; }
  beginArray(): Writer { this.sep(); this.put(0x5b); this.commas <<= 1; return this; }
  endArray(): Writer { this.put(0x5d); this.commas >>= 1; return this; }

  /** Starts a member; the next value written is its value. */
  key(k: string): Writer {
    this.sep();
    this.writeString(k);
    this.put(0x3a);
    this.commas &= ~1; // the value that follows must not get a comma
    return this;
  }

  /** Starts a member whose key is the raw (escaped) string contents [p, p+n). */
  keyBytes(p: usize, n: usize): Writer {
    this.sep();
    this.put(0x22);
    this.bytes(p, n);
    this.put(0x22);
    this.put(0x3a);
    this.commas &= ~1;
    return this;
  }

  string(s: string): Writer { this.sep(); this.writeString(s); return this; }

  /** A string from UTF-8 bytes [p, p+n), escaped as needed. */
  stringBytes(p: usize, n: usize): Writer {
    this.sep();
    this.reserve(n + 2);
    this.put(0x22);
    for (let i: usize = 0; i < n; i++) this.escapeByte(load<u8>(p + i));
    this.put(0x22);
    return this;
  }

  /** Any value from a reader, copied verbatim (a string keeps its escapes). */
  value(v: Value): Writer {
    this.sep();
    const n = v.len; // may scan an unread container and find it malformed
    if (v.kind == Kind.Invalid) return this.raw("null");
    return this.bytes(v.ptr, n);
  }

  /** A value given as JSON text [p, p+n) in memory, inserted as it is. */
  jsonBytes(p: usize, n: usize): Writer { this.sep(); return this.bytes(p, n); }

  /** A value given as JSON text, inserted as it is. */
  json(text: string): Writer { this.sep(); return this.raw(text); }

  null(): Writer { this.sep(); return this.raw("null"); }
  bool(b: bool): Writer { this.sep(); return this.raw(b ? "true" : "false"); }

  int(v: i64): Writer {
    this.sep();
    this.reserve(20);
    let u: u64 = v < 0 ? <u64>(-v) : <u64>v;
    if (v < 0) this.put(0x2d);
    let n: usize = 1;
    for (let t = u; t >= 10; t /= 10) n++;
    for (let i = n; i > 0; i--) {
      store<u8>(this.buf + this.len + i - 1, 0x30 + <u32>(u % 10));
      u /= 10;
    }
    this.len += n;
    return this;
  }

  /** A number; NaN and infinities, which JSON cannot hold, become null. */
  number(v: f64): Writer {
    if (!isFinite(v)) return this.null();
    if (v == Math.trunc(v) && Math.abs(v) < 9007199254740992) return this.int(<i64>v);
    this.sep();
    return this.raw(v.toString());
  }

  /** Writes, inside an open object, every member of obj except those named in skip. */
  membersExcept(obj: Value, skip: string[]): Writer {
    const it = new Members(obj);
    while (it.next()) {
      let skipped = false;
      for (let i = 0; i < skip.length && !skipped; i++) skipped = it.keyIs(unchecked(skip[i]));
      if (skipped) continue;
      this.keyBytes(it.keyPtr, it.keyLen);
      this.value(it.value);
    }
    return this;
  }

  /** Hands the buffer to the host: the packed result of a hook. The writer is then empty. */
  finish(): u64 {
    const r = pack(this.buf, this.len);
    this.buf = 0; // the host frees it now; the next write allocates a new one
    this.cap = 0;
    this.len = 0;
    this.commas = 0;
    return r;
  }

  /** Frees the buffer of a writer that will not be finished. */
  discard(): void {
    if (this.buf != 0) heap.free(this.buf);
    this.buf = 0;
    this.cap = 0;
    this.len = 0;
  }

  private writeString(s: string): void {
    const n = s.length;
    this.reserve(<usize>n + 2);
    this.put(0x22);
    let ascii = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
    if (ascii) {
      for (let i = 0; i < n; i++) this.escapeByte(s.charCodeAt(i));
    } else {
      const b = String.UTF8.encode(s);
      const p = changetype<usize>(b);
      for (let i = 0, m = b.byteLength; i < m; i++) this.escapeByte(load<u8>(p + <usize>i));
    }
    this.put(0x22);
  }

  private escapeByte(c: u32): void {
    if (c >= 0x20 && c != 0x22 && c != 0x5c) { this.put(c); return; }
    this.put(0x5c);
    switch (c) {
      case 0x22: this.put(0x22); return;
      case 0x5c: this.put(0x5c); return;
      case 0x0a: this.put(0x6e); return;
      case 0x0d: this.put(0x72); return;
      case 0x09: this.put(0x74); return;
    }
    this.raw("u00");
    this.put(<u32>HEX.charCodeAt(c >> 4));
    this.put(<u32>HEX.charCodeAt(c & 15));
  }
}
