/*
 * crossroads.h: the C SDK for Crossroads plugins (plugin ABI v1, see sdk/ABI.md).
 *
 * One header. Every helper is `static inline`, so a plugin made of several .c files may include
 * it everywhere. The ABI exports (plugin_abi_v1, plugin_alloc, plugin_free) are emitted only in
 * the one .c file that defines CROSSROADS_IMPLEMENTATION before including this header.
 *
 * What it gives:
 *   - ABI glue: CR_EXPORT, CR_PLUGIN_INFO, cr_pack, cr_input, cr_error, cr_buf_result.
 *   - A zero-copy JSON reader for untrusted bytes (cr_json values are slices of the input).
 *     cr_input/cr_parse validate strictly (RFC 8259 plus UTF-8) and bound nesting at
 *     CR_MAX_DEPTH; iterators then only find value boundaries, helped by an end index that
 *     cr_parse records. Nothing reads outside the slice it was given, and every loop advances
 *     a pointer toward a fixed end, so malformed input ends in an error, never a crash or hang.
 *   - A JSON writer over a growable buffer (cr_buf) with automatic commas.
 *   - Typed helpers for each hook kind's payload (route, stream, format).
 *
 * Strings handed to the writer are UTF-8; invalid sequences become U+FFFD, so the output is
 * always valid UTF-8 JSON as the host demands.
 */
#ifndef CROSSROADS_H
#define CROSSROADS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- ABI glue */

/* The reader's innermost helpers run per member; a call costs more than their bodies in wasm,
 * where every function entry is also a fuel check. */
#define CR_INLINE_ __attribute__((always_inline))
#define CR_EXPORT(name) __attribute__((export_name(name)))
#define CR_UNCHANGED ((uint64_t)0)

/* cr_pack packs a result buffer as the ABI wants it: ptr << 32 | len. */
static inline uint64_t cr_pack(const void *p, uint32_t n) {
	return ((uint64_t)(uintptr_t)p << 32) | (uint64_t)n;
}

#ifdef CROSSROADS_IMPLEMENTATION
CR_EXPORT("plugin_abi_v1") void plugin_abi_v1(void) {}
/* malloc(0) may return NULL, which the ABI reads as failure, so ask for at least one byte. */
CR_EXPORT("plugin_alloc") void *plugin_alloc(uint32_t size) { return malloc(size ? size : 1); }
CR_EXPORT("plugin_free") void plugin_free(void *p, uint32_t size) { free(p); }
#endif

/* CR_PLUGIN_INFO("{\"name\":\"x\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"]}") defines the
 * plugin_info export. The result is a heap copy because the host frees every result. */
#define CR_PLUGIN_INFO(json_literal)                                                         \
	CR_EXPORT("plugin_info") uint64_t plugin_info(void) {                                    \
		static const char cr_info_[] = json_literal;                                         \
		char *cr_p_ = (char *)malloc(sizeof(cr_info_) - 1);                                  \
		if (!cr_p_) return 0;                                                                \
		memcpy(cr_p_, cr_info_, sizeof(cr_info_) - 1);                                       \
		return cr_pack(cr_p_, (uint32_t)(sizeof(cr_info_) - 1));                             \
	}

/* Host functions (module "crossroads"). They become imports only if the plugin calls them. */
__attribute__((import_module("crossroads"), import_name("log"))) void cr_host_log_(int32_t level, const void *p, uint32_t n);
__attribute__((import_module("crossroads"), import_name("clock_ns"))) int64_t cr_host_clock_ns_(void);
__attribute__((import_module("crossroads"), import_name("random"))) void cr_host_random_(void *p, uint32_t n);

enum { CR_LOG_DEBUG = 0, CR_LOG_INFO = 1, CR_LOG_WARN = 2, CR_LOG_ERROR = 3 };
static inline void cr_log(int level, const char *msg, size_t n) { cr_host_log_(level, msg, (uint32_t)n); }
static inline int64_t cr_clock_ns(void) { return cr_host_clock_ns_(); }
static inline void cr_random(void *p, size_t n) { cr_host_random_(p, (uint32_t)n); }

/* ---------------------------------------------------------------- JSON reader */

#ifndef CR_MAX_DEPTH
#define CR_MAX_DEPTH 128
#endif

/* A JSON value: a slice of the input, starting at its first byte. n == 0 means "absent". */
typedef struct {
	const char *p;
	size_t n;
} cr_json;

typedef enum {
	CR_NONE = 0, /* absent or empty */
	CR_NULL,
	CR_FALSE,
	CR_TRUE,
	CR_NUMBER,
	CR_STRING,
	CR_ARRAY,
	CR_OBJECT,
	CR_BAD
} cr_type;

static inline cr_type cr_typeof(cr_json v) {
	if (v.n == 0 || !v.p) return CR_NONE;
	switch (v.p[0]) {
	case '{': return CR_OBJECT;
	case '[': return CR_ARRAY;
	case '"': return CR_STRING;
	case 't': return CR_TRUE;
	case 'f': return CR_FALSE;
	case 'n': return CR_NULL;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9': return CR_NUMBER;
	default: return CR_BAD;
	}
}
static inline int cr_is(cr_json v, cr_type t) { return cr_typeof(v) == t; }
static inline int cr_present(cr_json v) { return v.n != 0; }

static inline CR_INLINE_ const char *cr_ws_(const char *p, const char *end) {
	/* compact JSON has no whitespace: answer without entering the loop, whose every
	 * iteration, the first included, is a fuel check in metered wasm */
	if (p >= end || (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')) return p;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
	return p;
}

static inline int cr_hex_(int c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* cr_utf8_len_ returns the length of the valid UTF-8 sequence at p (which starts with a byte
 * >= 0x80), or 0 if it is invalid: overlong forms, surrogates and code points above U+10FFFF
 * are refused, as Go's utf8.Valid does. */
static inline int cr_utf8_len_(const unsigned char *p, const unsigned char *end) {
	unsigned c = p[0];
	if (c >= 0xC2 && c <= 0xDF) {
		if (end - p >= 2 && (p[1] & 0xC0) == 0x80) return 2;
		return 0;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
		if (c == 0xE0 && p[1] < 0xA0) return 0;
		if (c == 0xED && p[1] >= 0xA0) return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
		if (c == 0xF0 && p[1] < 0x90) return 0;
		if (c == 0xF4 && p[1] >= 0x90) return 0;
		return 4;
	}
	return 0;
}

/* Word-at-a-time scanning: strings dominate JSON, and a loop iteration costs more in wasm
 * (bounds and fuel checks) than the arithmetic that tests eight bytes at once. */
#define CR_ONES_ UINT64_C(0x0101010101010101)
#define CR_HIGHS_ UINT64_C(0x8080808080808080)
static inline uint64_t cr_load8_(const char *p) {
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}
/* nonzero if some byte of x equals c */
static inline uint64_t cr_has_byte_(uint64_t x, unsigned c) {
	uint64_t y = x ^ (CR_ONES_ * c);
	return (y - CR_ONES_) & ~y & CR_HIGHS_;
}
/* The index of the first flagged byte of a nonzero mask from the tests above. The tests can
 * flag false positives only above a true one (borrows run upward), so the lowest flag is
 * exact; wasm is little-endian, so the lowest byte comes first in memory. */
static inline int cr_first_(uint64_t m) { return __builtin_ctzll(m) >> 3; }

/* cr_bytes_eq_ is memcmp(a, b, n) == 0, a word at a time and with the tail unrolled. */
static inline int cr_bytes_eq_(const char *a, const char *b, size_t n) {
	while (n >= 8) {
		if (cr_load8_(a) != cr_load8_(b)) return 0;
		a += 8;
		b += 8;
		n -= 8;
	}
	switch (n) {
	case 7: if (a[6] != b[6]) return 0; /* fall through */
	case 6: if (a[5] != b[5]) return 0; /* fall through */
	case 5: if (a[4] != b[4]) return 0; /* fall through */
	case 4: if (a[3] != b[3]) return 0; /* fall through */
	case 3: if (a[2] != b[2]) return 0; /* fall through */
	case 2: if (a[1] != b[1]) return 0; /* fall through */
	case 1: if (a[0] != b[0]) return 0; /* fall through */
	default: return 1;
	}
}

/* nonzero if some byte of x is '"', '\\', a control character or not ASCII. Bytes >= 0x80 are
 * flagged anyway, so the "& ~y" of the exact zero-byte test is dropped from every term: a
 * subtraction sets a high bit spuriously only through a borrow, and a borrow starts only at a
 * byte that is flagged for real, below the spurious one. About half the operations. */
static inline uint64_t cr_special8_(uint64_t x) {
	return ((x - CR_ONES_ * 0x20) | ((x ^ (CR_ONES_ * '"')) - CR_ONES_) | ((x ^ (CR_ONES_ * '\\')) - CR_ONES_) | x) & CR_HIGHS_;
}
/* nonzero if some byte of x is '"' or '\\' (same reasoning; ~x drops the bytes >= 0x80) */
static inline uint64_t cr_quote8_(uint64_t x) {
	return (((x ^ (CR_ONES_ * '"')) - CR_ONES_) | ((x ^ (CR_ONES_ * '\\')) - CR_ONES_)) & ~x & CR_HIGHS_;
}

/* Each skipper takes p at the value's first byte and returns the byte after it, or NULL. */
static inline const char *cr_skip_string_(const char *p, const char *end) {
	p++; /* opening quote */
	/* One loop, a word or one special byte per iteration: JSON inside a string escapes every
	 * quote, so specials come every few bytes, and each loop entered costs a fuel check. */
	for (;;) {
		unsigned char c;
		if (end - p >= 8) {
			uint64_t m = cr_special8_(cr_load8_(p));
			if (!m) {
				p += 8;
				continue;
			}
			p += cr_first_(m);
		} else if (p >= end) {
			return NULL;
		}
		c = (unsigned char)*p;
		if (c == '"') return p + 1;
		if (c == '\\') {
			if (end - p < 2) return NULL;
			switch (p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': p += 2; break;
			case 'u':
				if (end - p < 6 || cr_hex_(p[2]) < 0 || cr_hex_(p[3]) < 0 || cr_hex_(p[4]) < 0 || cr_hex_(p[5]) < 0) return NULL;
				p += 6;
				break;
			default: return NULL;
			}
		} else if (c < 0x20) {
			return NULL;
		} else if (c < 0x80) {
			p++;
		} else {
			int k = cr_utf8_len_((const unsigned char *)p, (const unsigned char *)end);
			if (!k) return NULL;
			p += k;
		}
	}
}

static inline const char *cr_skip_number_(const char *p, const char *end) {
	if (p < end && *p == '-') p++;
	if (p >= end) return NULL;
	if (*p == '0') p++;
	else if (*p >= '1' && *p <= '9') while (p < end && *p >= '0' && *p <= '9') p++;
	else return NULL;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9') return NULL;
		while (p < end && *p >= '0' && *p <= '9') p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-')) p++;
		if (p >= end || *p < '0' || *p > '9') return NULL;
		while (p < end && *p >= '0' && *p <= '9') p++;
	}
	return p;
}

static inline const char *cr_skip_lit_(const char *p, const char *end, const char *lit, size_t n) {
	if ((size_t)(end - p) < n || !cr_bytes_eq_(p, lit, n)) return NULL;
	return p + n;
}

/* The end index. Iterators skip values to find where the next one starts, so a value at depth
 * d would be scanned d+1 times as a plugin descends into it. While cr_parse validates a
 * document it therefore records where each container and each string (keys included) ends,
 * and iterators look the end up instead of scanning: an iterator finds its document's table
 * once, when it starts, so a member costs two table reads. Entries carry
 * the generation of the parse that wrote them, so a table is reused without clearing; a few
 * slots keep nested documents (a string's decoded JSON) from evicting their parent's. The
 * tables hold offsets only, never document bytes. Only strings and containers get entries;
 * every other byte's entry is whatever an earlier parse (or, in memory a table has just grown
 * into, an earlier allocation) left there, so that memory is zeroed when a table grows (a
 * generation is never 0) and readers look entries up only where a parse writes them. */
#ifndef CR_INDEX_SLOTS
#define CR_INDEX_SLOTS 4
#endif
#ifndef CR_INDEX_MAX
#define CR_INDEX_MAX (128u << 10) /* larger documents are scanned instead: the table is 8 bytes per input byte */
#endif
typedef struct {
	const char *base;
	size_t n;
	uint32_t *tab; /* pairs (generation, end offset) per input byte */
	size_t cap;
	uint32_t gen;
} cr_index_;

static inline cr_index_ *cr_index_slots_(void) {
	static cr_index_ slots[CR_INDEX_SLOTS];
	return slots;
}

/* cr_index_of_ is the live table of the innermost document that holds p, or NULL: a document
 * parsed out of the input's bytes (a string without escapes) lies inside the input's. */
static inline const cr_index_ *cr_index_of_(const char *p) {
	cr_index_ *s = cr_index_slots_(), *best = NULL;
	int i;
	for (i = 0; i < CR_INDEX_SLOTS; i++)
		if (s[i].base && p >= s[i].base && p < s[i].base + s[i].n && (!best || s[i].n < best->n)) best = &s[i];
	return best;
}

/* cr_indexed_ reports whether a value starting with byte c has an entry: a string or a
 * container. Numbers and literals have none, and their slots are not to be read. */
static inline CR_INLINE_ int cr_indexed_(char c) { return c == '"' || c == '{' || c == '['; }

/* cr_index_at_ is the recorded end of the value at p in table ix (which holds p), or NULL. */
static inline CR_INLINE_ const char *cr_index_at_(const cr_index_ *ix, const char *p, const char *end) {
	const uint32_t *e;
	const char *q;
	if (!ix->base || p < ix->base || (size_t)(p - ix->base) >= ix->n) return NULL; /* dropped since, or not its document */
	e = ix->tab + 2 * (size_t)(p - ix->base);
	q = ix->base + e[1];
	if (e[0] == ix->gen && q > p && q <= end) return q;
	return NULL;
}

/* cr_index_end_ is the recorded end of the value starting at p, or NULL. */
static inline const char *cr_index_end_(const char *p, const char *end) {
	cr_index_ *s = cr_index_slots_();
	int i;
	/* Every table holding p is asked: entries of the current generation were written by that
	 * table's own parse, so a hit is right whichever of nested documents it belongs to. */
	for (i = 0; i < CR_INDEX_SLOTS; i++) {
		if (s[i].base && p >= s[i].base && p < s[i].base + s[i].n) {
			const uint32_t *e = s[i].tab + 2 * (size_t)(p - s[i].base);
			const char *q = s[i].base + e[1];
			if (e[0] == s[i].gen && q > p && q <= end) return q;
		}
	}
	return NULL;
}

static inline void cr_index_put_(cr_index_ *ix, const char *p, const char *q) {
	uint32_t *e = ix->tab + 2 * (size_t)(p - ix->base);
	e[0] = ix->gen;
	e[1] = (uint32_t)(q - ix->base);
}

static const char *cr_skip_value_(const char *p, const char *end, int depth, cr_index_ *ix);

static inline const char *cr_skip_container_(const char *p, const char *end, int depth, cr_index_ *ix) {
	int obj = *p == '{';
	char close = obj ? '}' : ']';
	if (depth >= CR_MAX_DEPTH) return NULL;
	p = cr_ws_(p + 1, end);
	if (p < end && *p == close) return p + 1;
	for (;;) {
		if (p >= end) return NULL;
		if (obj) {
			const char *k = p;
			if (*p != '"' || !(p = cr_skip_string_(p, end))) return NULL;
			if (ix) cr_index_put_(ix, k, p);
			p = cr_ws_(p, end);
			if (p >= end || *p != ':') return NULL;
			p = cr_ws_(p + 1, end);
		}
		if (p < end && *p == '"') { /* strings, the commonest members, without a call */
			const char *v = p;
			if (!(p = cr_skip_string_(p, end))) return NULL;
			if (ix) cr_index_put_(ix, v, p);
		} else if (!(p = cr_skip_value_(p, end, depth + 1, ix))) {
			return NULL;
		}
		p = cr_ws_(p, end);
		if (p >= end) return NULL;
		if (*p == close) return p + 1;
		if (*p != ',') return NULL;
		p = cr_ws_(p + 1, end);
	}
}

static const char *cr_skip_value_(const char *p, const char *end, int depth, cr_index_ *ix) {
	const char *q;
	if (p >= end) return NULL;
	switch (*p) {
	case '"':
		q = cr_skip_string_(p, end);
		if (ix && q) cr_index_put_(ix, p, q);
		return q;
	case '{': case '[':
		q = cr_skip_container_(p, end, depth, ix);
		if (ix && q) cr_index_put_(ix, p, q);
		return q;
	case 't': return cr_skip_lit_(p, end, "true", 4);
	case 'f': return cr_skip_lit_(p, end, "false", 5);
	case 'n': return cr_skip_lit_(p, end, "null", 4);
	default: return cr_skip_number_(p, end);
	}
}

static inline int cr_parse_slot_(const void *data, size_t n, cr_json *out, int slot) {
	const char *p = (const char *)data, *end = p + n, *q;
	cr_index_ *slots = cr_index_slots_(), *ix = NULL;
	int i;
	out->p = NULL;
	out->n = 0;
	if (!p) return 0;
	/* A slot over memory that now holds this document is stale, except the input's when the
	 * document lies inside it: a hook never writes into its input, so that is a value read out
	 * of the input (a string without escapes), and the input's index stays right. */
	for (i = 0; i < CR_INDEX_SLOTS; i++)
		if (slots[i].base && slots[i].base < end && p < slots[i].base + slots[i].n &&
		    !(i == 0 && slot != 0 && p >= slots[0].base && end <= slots[0].base + slots[0].n))
			slots[i].base = NULL;
	if (n <= CR_INDEX_MAX) {
		ix = &slots[slot];
		if (ix->cap < n) {
			uint32_t *t = (uint32_t *)realloc(ix->tab, 8 * n);
			if (t) {
				/* Fresh heap memory can hold an earlier table's entries, whose generations
				 * are those of this slot's parses too: one at a number's offset would give
				 * the number a false end (a pooled instance's state then reads as corrupt). */
				memset(t + 2 * ix->cap, 0, 8 * (n - ix->cap));
				ix->tab = t;
				ix->cap = n;
			}
		}
		if (ix->cap >= n && ++ix->gen != 0) {
			ix->base = p;
			ix->n = n;
		} else {
			ix->base = NULL; /* no memory, or the generation wrapped: entries of 0 would look current */
			ix->gen = 0;
			if (ix->cap >= n) memset(ix->tab, 0, 8 * ix->cap);
			ix = NULL;
		}
	}
	p = cr_ws_(p, end);
	q = cr_skip_value_(p, end, 0, ix);
	if (!q || cr_ws_(q, end) != end) {
		if (ix) ix->base = NULL;
		return 0;
	}
	out->p = p;
	out->n = (size_t)(q - p);
	return 1;
}

/* cr_parse validates that [p, p+n) is exactly one JSON value with optional surrounding
 * whitespace and sets *out to it. It returns 1 on success, 0 on any syntax error. */
static inline int cr_parse(const void *data, size_t n, cr_json *out) {
	static unsigned next;
	next = next % (CR_INDEX_SLOTS - 1) + 1; /* slot 0 belongs to the hook input */
	return cr_parse_slot_(data, n, out, (int)next);
}

/* cr_input parses a hook's input (ptr, len) as cr_parse does. Call it first in every hook: it
 * also forgets the end index of earlier calls. Never write into the input: its index stays in
 * use while documents read out of it (strings without escapes) are parsed. */
static inline int cr_input(uint32_t ptr, uint32_t len, cr_json *out) {
	cr_index_ *slots = cr_index_slots_();
	int i;
	for (i = 0; i < CR_INDEX_SLOTS; i++) slots[i].base = NULL;
	return cr_parse_slot_((const void *)(uintptr_t)ptr, len, out, 0);
}

/* cr_valid reports whether v is one complete, valid JSON value. */
static inline int cr_valid(cr_json v) {
	const char *q;
	if (!v.p || !v.n) return 0;
	q = cr_skip_value_(v.p, v.p + v.n, 0, NULL);
	return q == v.p + v.n;
}

/* Fast skipping inside a document that cr_parse already validated. Re-validating every value
 * each time an iterator passes over it made lookups cost several strict passes per byte, so
 * iterators only find value boundaries: strings by their closing quote, containers by bracket
 * depth, scalars by the next delimiter. On bytes that were never validated they still stay
 * inside [p, end) and always move forward, so they end; they just do not diagnose every error. */
static inline const char *cr_fskip_string_(const char *p, const char *end) {
	p++;
	for (;;) {
		if (end - p >= 8) {
			uint64_t m = cr_quote8_(cr_load8_(p));
			if (!m) {
				p += 8;
				continue;
			}
			p += cr_first_(m);
		} else {
			if (p >= end) return NULL;
			if (*p != '"' && *p != '\\') {
				p++;
				continue;
			}
		}
		if (*p == '"') return p + 1;
		if (end - p < 2) return NULL;
		p += 2; /* an escape: its second byte is never the closing quote */
	}
}

static inline const char *cr_fskip_value_(const char *p, const char *end) {
	int depth = 0;
	const char *q;
	if (p >= end) return NULL;
	switch (*p) {
	case '"':
		if ((q = cr_index_end_(p, end))) return q;
		return cr_fskip_string_(p, end);
	case '{': case '[':
		if ((q = cr_index_end_(p, end))) return q;
		while (p < end) {
			char c = *p;
			if (c == '"') {
				if (!(p = cr_fskip_string_(p, end))) return NULL;
				continue;
			}
			if (c == '{' || c == '[') depth++;
			else if ((c == '}' || c == ']') && --depth == 0) return p + 1;
			p++;
		}
		return NULL;
	default:
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != ':') p++;
		return p;
	}
}

/* Iteration over an object's members or an array's elements, within a value from cr_parse or
 * cr_input (see cr_fskip_value_ above for what happens on anything else). Structural errors
 * (a missing colon or comma, an unterminated string) end the iteration with it.err set. */
typedef struct {
	const char *p, *end;
	int err;
	char close;
	const cr_index_ *ix_; /* the end index of the document iterated, if any */
} cr_iter;

static inline int cr_iter_begin_(cr_json v, cr_iter *it, char open, char close) {
	it->err = 0;
	it->close = close;
	it->ix_ = NULL;
	if (v.n == 0 || v.p[0] != open) {
		it->p = it->end = NULL;
		it->err = v.n != 0;
		return 0;
	}
	it->end = v.p + v.n;
	it->ix_ = cr_index_of_(v.p);
	it->p = cr_ws_(v.p + 1, it->end);
	if (it->p < it->end && *it->p == close) it->p = it->end; /* empty */
	return 1;
}
/* cr_obj_iter starts iterating an object; it returns 0 (and the loop does nothing) otherwise. */
static inline int cr_obj_iter(cr_json v, cr_iter *it) { return cr_iter_begin_(v, it, '{', '}'); }
static inline int cr_arr_iter(cr_json v, cr_iter *it) { return cr_iter_begin_(v, it, '[', ']'); }

static inline int cr_iter_fail_(cr_iter *it) {
	it->err = 1;
	it->p = it->end;
	return 0;
}

/* After a member or element: expect ',' (more) or the closing bracket (done). */
static inline CR_INLINE_ int cr_iter_after_(cr_iter *it, const char *q) {
	q = cr_ws_(q, it->end);
	if (q >= it->end) return 0;
	if (*q == ',') {
		it->p = cr_ws_(q + 1, it->end);
		if (it->p >= it->end || *it->p == it->close) return 0; /* trailing comma */
		return 1;
	}
	if (*q == it->close) {
		it->p = it->end;
		return 1;
	}
	return 0;
}

/* cr_obj_next yields the next member: key is the raw JSON string (quotes included; compare it
 * with cr_str_eq), val the raw value. It returns 0 at the end or on a syntax error. */
static inline int cr_obj_next(cr_iter *it, cr_json *key, cr_json *val) {
	const char *p = it->p, *q;
	if (!p || p >= it->end) return 0;
	if (*p != '"' || !((it->ix_ && (q = cr_index_at_(it->ix_, p, it->end))) || (q = cr_fskip_string_(p, it->end))))
		return cr_iter_fail_(it);
	key->p = p;
	key->n = (size_t)(q - p);
	q = cr_ws_(q, it->end);
	if (q >= it->end || *q != ':') return cr_iter_fail_(it);
	p = cr_ws_(q + 1, it->end);
	if (!((it->ix_ && p < it->end && cr_indexed_(*p) && (q = cr_index_at_(it->ix_, p, it->end))) || (q = cr_fskip_value_(p, it->end))) ||
	    q == p)
		return cr_iter_fail_(it);
	val->p = p;
	val->n = (size_t)(q - p);
	if (!cr_iter_after_(it, q)) return cr_iter_fail_(it);
	return 1;
}

static inline int cr_arr_next(cr_iter *it, cr_json *val) {
	const char *p = it->p, *q;
	if (!p || p >= it->end) return 0;
	if (!((it->ix_ && cr_indexed_(*p) && (q = cr_index_at_(it->ix_, p, it->end))) || (q = cr_fskip_value_(p, it->end))) || q == p)
		return cr_iter_fail_(it);
	val->p = p;
	val->n = (size_t)(q - p);
	if (!cr_iter_after_(it, q)) return cr_iter_fail_(it);
	return 1;
}

/* cr_str_raw gives the bytes between a string's quotes, escapes not decoded. */
static inline cr_json cr_str_raw(cr_json s) {
	cr_json r = {NULL, 0};
	if (s.n >= 2 && s.p[0] == '"') {
		r.p = s.p + 1;
		r.n = s.n - 2;
	}
	return r;
}

static inline char *cr_put_utf8_(char *d, uint32_t cp) {
	if (cp < 0x80) {
		*d++ = (char)cp;
	} else if (cp < 0x800) {
		*d++ = (char)(0xC0 | (cp >> 6));
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*d++ = (char)(0xE0 | (cp >> 12));
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*d++ = (char)(0xF0 | (cp >> 18));
		*d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	}
	return d;
}

/* four hex digits, or -1 */
static inline int cr_u4_(const char *p) {
	int a = cr_hex_(p[0]), b = cr_hex_(p[1]), c = cr_hex_(p[2]), d = cr_hex_(p[3]);
	if ((a | b | c | d) < 0) return -1;
	return (a << 12) | (b << 8) | (c << 4) | d;
}

/* cr_str_decode decodes the JSON string s (quotes included) into dst as UTF-8 and returns the
 * length, or -1 if s is not a string, holds a malformed escape, or dst (cap bytes) is too
 * small. The decoded text is never longer than s.n, so cap = s.n always suffices. A lone
 * surrogate escape decodes to U+FFFD. Raw bytes are copied as they are: UTF-8 was checked when
 * the document was parsed. The output is not NUL-terminated. */
static inline long cr_str_decode(cr_json s, char *dst, size_t cap) {
	const char *p, *end;
	char *d = dst, *dend = dst + cap;
	if (s.n < 2 || s.p[0] != '"' || s.p[s.n - 1] != '"') return -1;
	p = s.p + 1;
	end = s.p + s.n - 1;
	for (;;) {
		/* Copy while scanning, a word per iteration where dst has room for all of it: the
		 * runs between escapes are short (JSON inside a string escapes every quote), and a
		 * memcpy call per run cost more than the copying. One loop, as in cr_skip_string_. */
		if (end - p >= 8 && dend - d >= 8) {
			uint64_t x = cr_load8_(p), m = cr_has_byte_(x, '\\');
			memcpy(d, &x, 8);
			if (!m) {
				p += 8;
				d += 8;
				continue;
			}
			p += cr_first_(m);
			d += cr_first_(m);
		} else {
			if (p >= end) break;
			if (*p != '\\') {
				if (d >= dend) return -1;
				*d++ = *p++;
				continue;
			}
		}
		if (end - p < 2) return -1; /* a backslash escaping the closing quote */
		if (p[1] == 'u') {
			uint32_t cp;
			int h;
			if (end - p < 6 || (h = cr_u4_(p + 2)) < 0) return -1;
			cp = (uint32_t)h;
			p += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' && (h = cr_u4_(p + 2)) >= 0 &&
			    h >= 0xDC00 && h <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)h - 0xDC00);
				p += 6;
			}
			if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
			if (dend - d < (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4)) return -1;
			d = cr_put_utf8_(d, cp);
			continue;
		}
		if (d >= dend) return -1;
		switch (p[1]) {
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case '"': case '\\': case '/': *d++ = p[1]; break;
		default: return -1;
		}
		p += 2;
	}
	return (long)(d - dst);
}

/* cr_has_backslash_ is memchr(p, '\\', n) != NULL without a libc call: keys are short, and a
 * call and a byte loop cost more than one or two word tests in wasm. */
static inline int cr_has_backslash_(const char *p, size_t n) {
	while (n >= 8) {
		if (cr_has_byte_(cr_load8_(p), '\\')) return 1;
		p += 8;
		n -= 8;
	}
	/* the tail without a loop: keys are mostly shorter than a word */
	switch (n) {
	case 7: if (p[6] == '\\') return 1; /* fall through */
	case 6: if (p[5] == '\\') return 1; /* fall through */
	case 5: if (p[4] == '\\') return 1; /* fall through */
	case 4: if (p[3] == '\\') return 1; /* fall through */
	case 3: if (p[2] == '\\') return 1; /* fall through */
	case 2: if (p[1] == '\\') return 1; /* fall through */
	case 1: if (p[0] == '\\') return 1; /* fall through */
	default: return 0;
	}
}


/* cr_raw_eq_ reports whether [p, p+n) equals the NUL-terminated lit. Names are a few bytes
 * long, so one inline loop beats a strlen and a memcmp call; it stops at lit's NUL. */
static inline int cr_raw_eq_(const char *p, size_t n, const char *lit) {
	size_t j;
	if (!n) return !lit[0];
	if (lit[0] != p[0]) return 0; /* most comparisons end here, before the loop */
	for (j = 1; j < n; j++)
		if (!lit[j] || lit[j] != p[j]) return 0;
	return !lit[n];
}

/* cr_str_eq reports whether the JSON string s decodes to the NUL-terminated lit. */
static inline int cr_str_eq_n_(cr_json s, const char *lit, size_t n) {
	cr_json r = cr_str_raw(s);
	if (!r.p || r.n < n) return 0; /* decoding only shortens */
	/* of the same length, only the raw bytes can match: an escape would make it shorter */
	if (r.n == n) return n == 0 || (r.p[0] == lit[0] && cr_bytes_eq_(r.p, lit, n));
	if (!cr_has_backslash_(r.p, r.n)) return 0;
	if (s.n > 512) return 0; /* escaped keys that long never match a short literal */
	{
		char buf[512];
		long k = cr_str_decode(s, buf, sizeof buf);
		return k == (long)n && memcmp(buf, lit, n) == 0;
	}
}

/* The length of a literal folds at compile time at the call site, wherever the compiler
 * decides not to inline cr_str_eq_n_. */
#define cr_str_eq(s, lit) cr_str_eq_n_((s), (lit), strlen(lit))

/* cr_key_first_ is the first decoded byte of a key, for switch dispatch before cr_str_eq. */
static inline int cr_key_first_(cr_json k) {
	char buf[16];
	cr_json r = cr_str_raw(k);
	if (!r.n) return 0;
	if (r.p[0] != '\\') return (unsigned char)r.p[0];
	if (k.n > sizeof buf) { /* decode only the first escape */
		cr_json head = {k.p, 8};
		char h[8];
		memcpy(h, k.p, 7);
		h[7] = '"';
		head.p = h;
		return cr_str_decode(head, buf, sizeof buf) > 0 ? (unsigned char)buf[0] : 0;
	}
	return cr_str_decode(k, buf, sizeof buf) > 0 ? (unsigned char)buf[0] : 0;
}

/* cr_str_first is the first decoded byte of the JSON string s (0 if empty or not a string):
 * a cheap switch key before cr_str_eq when matching many names. */
static inline int cr_str_first(cr_json s) { return cr_key_first_(s); }

/* cr_blank reports whether [p, p+n) holds only JSON whitespace. */
static inline int cr_blank(const char *p, size_t n) { return cr_ws_(p, p + n) == p + n; }

/* cr_obj_get returns the value of the first member named key, or an absent value. */
static inline cr_json cr_obj_get(cr_json obj, const char *key) {
	cr_iter it;
	cr_json k, v, none = {NULL, 0};
	cr_obj_iter(obj, &it);
	while (cr_obj_next(&it, &k, &v))
		if (cr_str_eq(k, key)) return v;
	return none;
}

/* cr_obj_fields looks up n (at most 32) member names in one pass over obj: out[i] becomes the
 * value of the first member named names[i], or absent. Several cr_obj_get calls would each
 * walk the object again. It returns how many names were found. */
static inline int cr_obj_fields(cr_json obj, const char *const *names, int n, cr_json *out) {
	cr_iter it;
	cr_json k, v;
	int i, found = 0;
	if (n > 32) n = 32;
	for (i = 0; i < n; i++) {
		out[i].p = NULL;
		out[i].n = 0;
	}
	cr_obj_iter(obj, &it);
	while (found < n && cr_obj_next(&it, &k, &v)) {
		cr_json r = cr_str_raw(k);
		/* raw bytes first; only a key that matched nothing can hold an escape worth decoding */
		for (i = 0; i < n; i++)
			if (!out[i].n && cr_raw_eq_(r.p, r.n, names[i])) break;
		if (i == n && cr_has_backslash_(r.p, r.n))
			for (i = 0; i < n; i++)
				if (!out[i].n && cr_str_eq(k, names[i])) break;
		if (i < n) {
			out[i] = v;
			found++;
		}
	}
	return found;
}

/* Number getters return 1 on success; on failure *out is left unchanged. */
/* cr_f64_fast_ reads the numbers hosts and providers actually send (up to 15 significant
 * digits, an optional fraction, an exponent within ±22) exactly, without strtod: on wasm32
 * strtod computes in 128-bit software floating point, which made parsing the five numbers
 * of each route candidate the bulk of a route hook. Exact because the digits fit in a
 * double's 53-bit mantissa and 10^k for k <= 22 is itself exact, so one multiplication or
 * division rounds once, as strtod does. Anything else returns 0 and takes strtod. */
static inline int cr_f64_fast_(const char *p, const char *end, double *out) {
	static const double pow10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	int neg = 0, digits = 0, scale = 0, ex = 0, exneg = 0;
	uint64_t m = 0;
	double d;
	if (p < end && *p == '-') neg = 1, p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (m || *p != '0') digits++;
		m = m * 10 + (uint64_t)(*p - '0');
		if (digits > 15) return 0;
	}
	if (p < end && *p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			if (m || *p != '0') digits++;
			m = m * 10 + (uint64_t)(*p - '0');
			scale--;
			if (digits > 15) return 0;
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-')) exneg = *p == '-', p++;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			ex = ex * 10 + (*p - '0');
			if (ex > 400) return 0;
		}
		scale += exneg ? -ex : ex;
	}
	if (p != end || scale < -22 || scale > 22) return 0;
	d = (double)m;
	d = scale < 0 ? d / pow10[-scale] : d * pow10[scale];
	*out = neg ? -d : d;
	return 1;
}

static inline int cr_f64(cr_json v, double *out) {
	char buf[128];
	char *e;
	double d;
	/* longer numbers exist only in hostile input: refuse them rather than allocate */
	if (cr_typeof(v) != CR_NUMBER || v.n >= sizeof buf) return 0;
	if (cr_skip_number_(v.p, v.p + v.n) != v.p + v.n) return 0;
	if (cr_f64_fast_(v.p, v.p + v.n, out)) return 1;
	memcpy(buf, v.p, v.n);
	buf[v.n] = 0;
	d = strtod(buf, &e); /* wasi-libc has only the "C" locale, so '.' is the separator */
	if (e != buf + v.n) return 0;
	*out = d;
	return 1;
}

/* cr_i64 accepts integers only (no fraction or exponent) that fit in int64. */
static inline int cr_i64(cr_json v, int64_t *out) {
	const char *p = v.p, *end = v.p + v.n;
	int neg = 0;
	uint64_t u = 0;
	if (cr_typeof(v) != CR_NUMBER || cr_skip_number_(p, end) != end) return 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; p < end; p++) {
		if (*p < '0' || *p > '9') return 0;
		if (u > (UINT64_C(9223372036854775808) - (uint64_t)(*p - '0')) / 10) return 0;
		u = u * 10 + (uint64_t)(*p - '0');
	}
	if (!neg && u > (uint64_t)INT64_MAX) return 0;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 1;
}

static inline int cr_bool(cr_json v, int *out) {
	cr_type t = cr_typeof(v);
	if (t != CR_TRUE && t != CR_FALSE) return 0;
	*out = t == CR_TRUE;
	return 1;
}
static inline int cr_is_null(cr_json v) { return cr_typeof(v) == CR_NULL; }

/* ---------------------------------------------------------------- JSON writer */

/* A growable output buffer. After an allocation failure it stops growing and sets oom;
 * cr_buf_result then returns an error object instead of truncated JSON. */
typedef struct {
	char *p;
	size_t n, cap;
	int oom;
} cr_buf;

static inline void cr_buf_init(cr_buf *b, size_t cap) {
	b->n = 0;
	b->oom = 0;
	b->cap = cap ? cap : 256;
	b->p = (char *)malloc(b->cap);
	if (!b->p) {
		b->cap = 0;
		b->oom = 1;
	}
}
static inline void cr_buf_free(cr_buf *b) {
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}
static inline void cr_buf_reset(cr_buf *b) {
	b->n = 0;
	b->oom = 0;
}

/* cr_buf_grow makes room for extra more bytes; it returns 0 if it cannot. */
static inline int cr_buf_grow(cr_buf *b, size_t extra) {
	size_t want, cap;
	char *np;
	if (b->oom) return 0;
	if (b->cap - b->n >= extra) return 1;
	if (extra > ((size_t)1 << 30) - b->n) {
		b->oom = 1;
		return 0;
	}
	want = b->n + extra;
	cap = b->cap ? b->cap : 256;
	while (cap < want) cap *= 2;
	np = (char *)realloc(b->p, cap);
	if (!np) {
		b->oom = 1;
		return 0;
	}
	b->p = np;
	b->cap = cap;
	return 1;
}

static inline void cr_buf_raw(cr_buf *b, const void *p, size_t n) {
	if (n == 0 || !cr_buf_grow(b, n)) return;
	memcpy(b->p + b->n, p, n);
	b->n += n;
}
static inline void cr_buf_char(cr_buf *b, char c) {
	if (!cr_buf_grow(b, 1)) return;
	b->p[b->n++] = c;
}
/* cr_buf_lit appends a string literal without measuring it at run time. */
#define cr_buf_lit(b, lit) cr_buf_raw((b), "" lit, sizeof(lit) - 1)
static inline void cr_buf_cstr_raw(cr_buf *b, const char *s) { cr_buf_raw(b, s, strlen(s)); }

/* cr_buf_sep writes the comma that separates members or elements when one is needed: after
 * anything but an opening bracket, a colon or a comma (or at the start). Writers built on
 * cr_buf_key and cr_buf_sep therefore never track "first element" flags. */
static inline void cr_buf_sep(cr_buf *b) {
	char c;
	if (b->n == 0) return;
	c = b->p[b->n - 1];
	if (c != '{' && c != '[' && c != ':' && c != ',') cr_buf_char(b, ',');
}

/* cr_buf_str appends s (n bytes of UTF-8) as a quoted JSON string. Invalid UTF-8 becomes
 * U+FFFD so the result stays valid. */
static inline void cr_buf_str(cr_buf *b, const char *s, size_t n) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	if (!cr_buf_grow(b, n + 2)) return;
	b->p[b->n++] = '"';
	while (p < end) {
		const unsigned char *run = p;
		while (end - p >= 8) {
			uint64_t m = cr_special8_(cr_load8_((const char *)p));
			if (m) {
				p += cr_first_(m);
				break;
			}
			p += 8;
		}
		while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80) p++;
		if (p > run) cr_buf_raw(b, run, (size_t)(p - run));
		if (p >= end) break;
		if (*p >= 0x80) {
			int k = cr_utf8_len_(p, end);
			if (k) {
				cr_buf_raw(b, p, (size_t)k);
				p += k;
			} else {
				cr_buf_lit(b, "\xEF\xBF\xBD");
				p++;
			}
			continue;
		}
		switch (*p) {
		case '"': cr_buf_lit(b, "\\\""); break;
		case '\\': cr_buf_lit(b, "\\\\"); break;
		case '\n': cr_buf_lit(b, "\\n"); break;
		case '\r': cr_buf_lit(b, "\\r"); break;
		case '\t': cr_buf_lit(b, "\\t"); break;
		case '\b': cr_buf_lit(b, "\\b"); break;
		case '\f': cr_buf_lit(b, "\\f"); break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
			cr_buf_raw(b, e, 6);
		}
		}
		p++;
	}
	cr_buf_char(b, '"');
}
static inline void cr_buf_cstr(cr_buf *b, const char *s) { cr_buf_str(b, s, strlen(s)); }

/* cr_buf_json_str appends the JSON string value v (from a parsed document) as it is, since it
 * is already escaped; anything that is not a string is written as "". */
static inline void cr_buf_json_str(cr_buf *b, cr_json v) {
	if (v.n >= 2 && v.p[0] == '"' && v.p[v.n - 1] == '"') cr_buf_raw(b, v.p, v.n);
	else cr_buf_lit(b, "\"\"");
}

/* cr_buf_str_of_json appends the raw bytes of any JSON value v, escaped, as one JSON string:
 * what JSON.stringify does to a value that is already serialised. */
static inline void cr_buf_str_of_json(cr_buf *b, cr_json v) { cr_buf_str(b, v.p, v.n); }

/* cr_buf_decoded appends the decoded text of the JSON string s (unquoted, unescaped). It
 * returns 0 if s is not a valid string. */
static inline int cr_buf_decoded(cr_buf *b, cr_json s) {
	long k;
	if (!cr_buf_grow(b, s.n)) return 0;
	k = cr_str_decode(s, b->p + b->n, s.n);
	if (k < 0) return 0;
	b->n += (size_t)k;
	return 1;
}

static inline void cr_buf_i64(cr_buf *b, int64_t v) {
	char tmp[24];
	int i = 24;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0) tmp[--i] = '-';
	cr_buf_raw(b, tmp + i, (size_t)(24 - i));
}

/* cr_buf_f64 writes the shortest of %.15g/%.16g/%.17g that reads back as v; integers below
 * 2^53 are written without a fraction. NaN and infinities have no JSON form: null. */
static inline void cr_buf_f64(cr_buf *b, double v) {
	char tmp[40];
	int n, prec;
	if (!isfinite(v)) {
		cr_buf_lit(b, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		cr_buf_i64(b, (int64_t)v);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v) break;
	}
	if (n > 0 && (size_t)n < sizeof tmp) cr_buf_raw(b, tmp, (size_t)n);
	else cr_buf_lit(b, "null");
}

static inline void cr_buf_bool(cr_buf *b, int v) {
	if (v) cr_buf_lit(b, "true");
	else cr_buf_lit(b, "false");
}

/* cr_buf_json copies a raw JSON value from the input (v must be valid: it came from the
 * reader). An absent value is written as null so the output stays well-formed. */
static inline void cr_buf_json(cr_buf *b, cr_json v) {
	if (v.n) cr_buf_raw(b, v.p, v.n);
	else cr_buf_lit(b, "null");
}

/* cr_buf_key writes a separator if needed, then "key": for a literal key. */
#define cr_buf_key(b, lit)                                                                   \
	do {                                                                                     \
		cr_buf_sep(b);                                                                       \
		cr_buf_lit((b), "\"" lit "\":");                                                     \
	} while (0)

/* ---------------------------------------------------------------- results and errors */

static inline uint64_t cr_error_status(int status, const char *code, const char *message);

/* cr_buf_result hands the buffer to the host as the hook's result. The buffer is owned by the
 * host afterwards (it calls plugin_free); b is left empty. */
static inline uint64_t cr_buf_result(cr_buf *b) {
	uint64_t r;
	if (b->oom || !b->p || b->n == 0) {
		cr_buf_free(b);
		return cr_error_status(0, "out_of_memory", "plugin could not allocate its output");
	}
	r = cr_pack(b->p, (uint32_t)b->n);
	b->p = NULL;
	b->n = b->cap = 0;
	return r;
}

/* cr_error_full writes the §6 error object
 * {"error":{"code":...,"message":...,"type":...,"status":...}}; type may be NULL and status 0
 * to leave them out. msg is n bytes of UTF-8. */
static inline uint64_t cr_error_full(int status, const char *type, const char *code, const char *msg, size_t n) {
	cr_buf b;
	cr_buf_init(&b, 96 + n);
	cr_buf_lit(&b, "{\"error\":{\"code\":");
	cr_buf_cstr(&b, code);
	cr_buf_lit(&b, ",\"message\":");
	cr_buf_str(&b, msg, n);
	if (type) {
		cr_buf_lit(&b, ",\"type\":");
		cr_buf_cstr(&b, type);
	}
	if (status) {
		cr_buf_lit(&b, ",\"status\":");
		cr_buf_i64(&b, status);
	}
	cr_buf_lit(&b, "}}");
	if (b.oom) {
		/* nothing fits: fall back to a failed call, which every policy handles */
		cr_buf_free(&b);
		__builtin_trap();
	}
	return cr_buf_result(&b);
}
static inline uint64_t cr_error_status(int status, const char *code, const char *message) {
	return cr_error_full(status, NULL, code, message, strlen(message));
}
static inline uint64_t cr_error(const char *code, const char *message) {
	return cr_error_full(0, NULL, code, message, strlen(message));
}

/* ---------------------------------------------------------------- hook_route */

/* One candidate of hook_route's input. Strings are raw JSON strings (compare with cr_str_eq,
 * copy with cr_buf_json_str); absent numbers are NAN, absent degraded is 0. */
typedef struct {
	cr_json raw, id, provider, model, region, circuit;
	double price_prompt, price_completion, ttft_ms, tokens_per_second, error_rate;
	int degraded;
} cr_candidate;

typedef enum { CR_CIRCUIT_UNKNOWN = 0, CR_CIRCUIT_CLOSED, CR_CIRCUIT_HALF_OPEN, CR_CIRCUIT_OPEN } cr_circuit;

static inline cr_circuit cr_candidate_circuit(const cr_candidate *c) {
	if (cr_str_eq(c->circuit, "closed")) return CR_CIRCUIT_CLOSED;
	if (cr_str_eq(c->circuit, "half_open")) return CR_CIRCUIT_HALF_OPEN;
	if (cr_str_eq(c->circuit, "open")) return CR_CIRCUIT_OPEN;
	return CR_CIRCUIT_UNKNOWN;
}

/* cr_route_input splits hook_route's input into the request summary and an iterator over the
 * candidates. It returns 0 if in is not an object with a candidates array. */
static inline int cr_route_input(cr_json in, cr_json *request, cr_iter *candidates) {
	cr_iter it;
	cr_json k, v, cands = {NULL, 0};
	request->p = NULL;
	request->n = 0;
	if (!cr_obj_iter(in, &it)) return 0;
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_str_eq(k, "request")) *request = v;
		else if (cr_str_eq(k, "candidates")) cands = v;
	}
	if (it.err) return 0;
	return cr_arr_iter(cands, candidates);
}

/* cr_route_next decodes the next candidate; it skips elements that are not objects. */
static inline int cr_route_next(cr_iter *candidates, cr_candidate *c) {
	cr_json e, k, v;
	cr_iter it;
	while (cr_arr_next(candidates, &e)) {
		if (!cr_obj_iter(e, &it)) continue;
		memset(c, 0, sizeof *c);
		c->raw = e;
		c->price_prompt = c->price_completion = c->ttft_ms = c->tokens_per_second = c->error_rate = NAN;
		while (cr_obj_next(&it, &k, &v)) {
			switch (cr_key_first_(k)) {
			case 'i': if (cr_str_eq(k, "id")) c->id = v; break;
			case 'p':
				if (cr_str_eq(k, "provider")) c->provider = v;
				else if (cr_str_eq(k, "price")) {
					cr_f64(cr_obj_get(v, "prompt"), &c->price_prompt);
					cr_f64(cr_obj_get(v, "completion"), &c->price_completion);
				}
				break;
			case 'm': if (cr_str_eq(k, "model")) c->model = v; break;
			case 'r': if (cr_str_eq(k, "region")) c->region = v; break;
			case 'c': if (cr_str_eq(k, "circuit")) c->circuit = v; break;
			case 't':
				if (cr_str_eq(k, "ttft_ms")) cr_f64(v, &c->ttft_ms);
				else if (cr_str_eq(k, "tokens_per_second")) cr_f64(v, &c->tokens_per_second);
				break;
			case 'e': if (cr_str_eq(k, "error_rate")) cr_f64(v, &c->error_rate); break;
			case 'd': if (cr_str_eq(k, "degraded")) cr_bool(v, &c->degraded); break;
			}
		}
		return 1;
	}
	return 0;
}

/* cr_route_order writes {"order":[ids...]} (ids are raw JSON strings from cr_candidate.id). */
static inline void cr_route_order(cr_buf *b, const cr_json *ids, size_t n) {
	size_t i;
	cr_buf_lit(b, "{\"order\":[");
	for (i = 0; i < n; i++) {
		if (i) cr_buf_char(b, ',');
		cr_buf_json_str(b, ids[i]);
	}
	cr_buf_lit(b, "]}");
}

/* ---------------------------------------------------------------- hook_request / hook_response */
/* The input is the body itself: cr_input it, write the new body into a cr_buf and return
 * cr_buf_result, or CR_UNCHANGED to keep it. */

/* ---------------------------------------------------------------- hook_stream / hook_format_stream */

/* The input of hook_stream, hook_stream_end and the four hook_format_* hooks, split into its
 * fields. Fields a hook does not carry stay absent (n == 0); status is 0 when absent. */
typedef struct {
	cr_json model;       /* format hooks: the provider's model id (JSON string) */
	cr_json request;     /* hook_format_request: the OpenAI request object */
	cr_json body;        /* hook_format_response / hook_format_error: provider body (JSON or string) */
	cr_json state;       /* stream hooks: the opaque state (JSON string, "" at first) */
	cr_json events;      /* stream hooks: the array of {"event","data"} */
	cr_json retry_after; /* hook_format_error: the Retry-After header (JSON string) */
	int64_t status;      /* hook_format_response / hook_format_error */
	int stream;          /* hook_format_request: whether the client streams */
} cr_hook_input;

/* cr_hook_parse fills f from a hook input object; it returns 0 if in is not an object. */
static inline int cr_hook_parse(cr_json in, cr_hook_input *f) {
	cr_iter it;
	cr_json k, v;
	memset(f, 0, sizeof *f);
	if (!cr_obj_iter(in, &it)) return 0;
	while (cr_obj_next(&it, &k, &v)) {
		switch (cr_key_first_(k)) {
		case 'm': if (cr_str_eq(k, "model")) f->model = v; break;
		case 'r':
			if (cr_str_eq(k, "request")) f->request = v;
			else if (cr_str_eq(k, "retry_after")) f->retry_after = v;
			break;
		case 'b': if (cr_str_eq(k, "body")) f->body = v; break;
		case 's':
			if (cr_str_eq(k, "state")) f->state = v;
			else if (cr_str_eq(k, "status")) cr_i64(v, &f->status);
			else if (cr_str_eq(k, "stream")) cr_bool(v, &f->stream);
			break;
		case 'e': if (cr_str_eq(k, "events")) f->events = v; break;
		}
	}
	return !it.err;
}

/* cr_event_next yields the next SSE event of f->events. name is a raw JSON string. data is
 * either a JSON string (the event's "data": decode it with cr_str_decode / cr_buf_decoded
 * before parsing) or, when the host sent the event's JSON as "json", the JSON object or
 * array itself, already validated and ready to read: check which with cr_is(data, CR_STRING).
 * Absent fields are absent. */
static inline int cr_event_next(cr_iter *events, cr_json *name, cr_json *data) {
	cr_json e, k, v;
	cr_iter it;
	while (cr_arr_next(events, &e)) {
		if (!cr_obj_iter(e, &it)) continue;
		name->p = data->p = NULL;
		name->n = data->n = 0;
		while (cr_obj_next(&it, &k, &v)) {
			if (cr_str_eq(k, "event")) *name = v;
			else if (cr_str_eq(k, "data") || cr_str_eq(k, "json")) *data = v;
		}
		return 1;
	}
	return 0;
}

/* Writing a stream result: cr_stream_begin(b, state, n) writes {"state":"...","events":[ (or
 * "chunks" for format hooks with cr_stream_begin_chunks); then one cr_stream_event per event,
 * or cr_buf_sep + any JSON value per chunk; then cr_stream_end(b) or cr_stream_end_done(b, done). */
static inline void cr_stream_begin(cr_buf *b, const char *state, size_t n) {
	cr_buf_lit(b, "{\"state\":");
	cr_buf_str(b, state, n);
	cr_buf_lit(b, ",\"events\":[");
}
static inline void cr_stream_begin_chunks(cr_buf *b, const char *state, size_t n) {
	cr_buf_lit(b, "{\"state\":");
	cr_buf_str(b, state, n);
	cr_buf_lit(b, ",\"chunks\":[");
}
/* cr_stream_event writes {"event":name,"data":data}; both are n bytes of UTF-8 text. */
static inline void cr_stream_event(cr_buf *b, const char *name, size_t nn, const char *data, size_t dn) {
	cr_buf_sep(b);
	cr_buf_lit(b, "{\"event\":");
	cr_buf_str(b, name, nn);
	cr_buf_lit(b, ",\"data\":");
	cr_buf_str(b, data, dn);
	cr_buf_char(b, '}');
}
static inline void cr_stream_end(cr_buf *b) { cr_buf_lit(b, "]}"); }
static inline void cr_stream_end_done(cr_buf *b, int done) {
	if (done) cr_buf_lit(b, "],\"done\":true}");
	else cr_buf_lit(b, "],\"done\":false}");
}

#endif /* CROSSROADS_H */
