//go:build ignore

/* The constraint above keeps the go command from treating this C file as cgo source: the
 * folder is also the Go package that tests the built plugin. clang reads it as a comment. */
/*
 * format-gemini: the first-party format plugin for Google's Gemini API (generativelanguage
 * v1beta generateContent / streamGenerateContent?alt=sse), implementing the four
 * hook_format_* hooks of sdk/ABI.md §5.
 *
 * The plugin only translates bytes. Text is copied between the two formats as raw JSON
 * string bodies wherever possible (concatenating the insides of valid JSON strings yields a
 * valid JSON string), so the common path neither decodes nor re-escapes content.
 */
#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"format-gemini\",\"version\":\"0.1.0\","
	       "\"hooks\":[\"hook_format_request\",\"hook_format_response\",\"hook_format_stream\",\"hook_format_error\"],"
	       "\"description\":\"Google Gemini generateContent wire format\"}")

static const cr_json NONE = {NULL, 0};

/* ---------------------------------------------------------------- small helpers */

static uint64_t bad_request(const char *msg) {
	return cr_error_full(400, "invalid_request_error", "unsupported_request", msg, strlen(msg));
}

/* text_of gives the decoded bytes of the JSON string s. Strings without escapes (nearly all
 * of them: base64 data, URLs, ids) are returned in place; others are decoded into scratch,
 * which the caller owns. Returns 0 if s is not a string. */
static int text_of(cr_json s, cr_buf *scratch, const char **p, size_t *n) {
	cr_json r = cr_str_raw(s);
	long k;
	if (!r.p) return 0;
	if (!memchr(r.p, '\\', r.n)) {
		*p = r.p;
		*n = r.n;
		return 1;
	}
	cr_buf_reset(scratch);
	if (!cr_buf_grow(scratch, s.n)) return 0;
	k = cr_str_decode(s, scratch->p, s.n);
	if (k < 0) return 0;
	scratch->n = (size_t)k;
	*p = scratch->p;
	*n = (size_t)k;
	return 1;
}

/* str_nonempty reports whether v is a string with at least one character. */
static int str_nonempty(cr_json v) { return cr_is(v, CR_STRING) && v.n > 2; }

static int bytes_eq(const char *p, size_t n, const char *lit) {
	size_t m = strlen(lit);
	return n == m && memcmp(p, lit, m) == 0;
}

static int has_suffix_ci(const char *p, size_t n, const char *suf) {
	size_t m = strlen(suf), i;
	if (n < m) return 0;
	for (i = 0; i < m; i++) {
		char c = p[n - m + i];
		if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
		if (c != suf[i]) return 0;
	}
	return 1;
}

/* copy_num writes "key":number when v is a number. */
static void copy_num(cr_buf *b, const char *key, cr_json v) {
	if (!cr_is(v, CR_NUMBER)) return;
	cr_buf_sep(b);
	cr_buf_char(b, '"');
	cr_buf_cstr_raw(b, key);
	cr_buf_lit(b, "\":");
	cr_buf_json(b, v);
}

/* pick fills vals[i] with the value of member keys[i] of obj (the first one wins) in one
 * pass: cr_obj_fields, which compares raw key bytes and decodes only keys with escapes. Each
 * lookup with cr_obj_get rescans every member before the one it finds, so objects read for
 * several keys are read with pick instead. */
static void pick(cr_json obj, const char *const *keys, int n, cr_json *vals) { cr_obj_fields(obj, keys, n, vals); }

/* ---------------------------------------------------------------- JSON Schema -> Gemini Schema */

/* Gemini's Schema is an OpenAPI 3.0 subset and the API rejects JSON Schema keys outside it
 * ($schema, additionalProperties, $ref, ...). write_schema copies only the keys it knows,
 * upper-cases type names and folds a ["T","null"] type union into nullable. */
static void write_schema(cr_buf *b, cr_json s, int depth);

static void write_type(cr_buf *b, const char *p, size_t n) {
	static const char *const names[] = {"string", "number", "integer", "boolean", "array", "object"};
	static const char *const upper[] = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"};
	size_t i;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (bytes_eq(p, n, names[i]) || bytes_eq(p, n, upper[i])) {
			cr_buf_key(b, "type");
			cr_buf_char(b, '"');
			cr_buf_cstr_raw(b, upper[i]);
			cr_buf_char(b, '"');
			return;
		}
	}
}

/* schema_type finds the schema's non-null type name and whether null is allowed. */
static int schema_type(cr_json t, cr_json *name, int *nullable) {
	cr_iter it;
	cr_json e;
	*name = NONE;
	*nullable = 0;
	if (cr_is(t, CR_STRING)) {
		if (cr_str_eq(t, "null")) *nullable = 1;
		else *name = t;
		return 1;
	}
	if (!cr_arr_iter(t, &it)) return 0;
	while (cr_arr_next(&it, &e)) {
		if (!cr_is(e, CR_STRING)) continue;
		if (cr_str_eq(e, "null")) *nullable = 1;
		else if (!name->n) *name = e;
	}
	return 1;
}

static void write_schema(cr_buf *b, cr_json s, int depth) {
	cr_iter it, it2;
	cr_json k, v, e, tname = NONE, fmt = NONE;
	int nullable = 0, is_string = 0, has_enum = 0;
	cr_buf scratch = {0};
	const char *tp;
	size_t tn;
	if (!cr_is(s, CR_OBJECT) || depth > 32) {
		cr_buf_lit(b, "{}");
		return;
	}
	cr_buf_char(b, '{');
	cr_obj_iter(s, &it);
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_str_eq(k, "type")) {
			int nl;
			if (tname.n || !schema_type(v, &tname, &nl)) continue;
			nullable |= nl;
			if (tname.n && text_of(tname, &scratch, &tp, &tn)) {
				is_string = bytes_eq(tp, tn, "string") || bytes_eq(tp, tn, "STRING");
				write_type(b, tp, tn);
			}
		} else if (cr_str_eq(k, "description") || cr_str_eq(k, "title") || cr_str_eq(k, "pattern")) {
			if (!cr_is(v, CR_STRING)) continue;
			cr_buf_sep(b);
			cr_buf_json_str(b, k);
			cr_buf_char(b, ':');
			cr_buf_json(b, v);
		} else if (cr_str_eq(k, "format")) {
			fmt = v;
		} else if (cr_str_eq(k, "nullable")) {
			int t;
			if (cr_bool(v, &t) && t) nullable = 1;
		} else if (cr_str_eq(k, "enum") || cr_str_eq(k, "const")) {
			/* Gemini enums are strings only */
			if (has_enum) continue;
			if (cr_is(v, CR_STRING)) {
				cr_buf_key(b, "enum");
				cr_buf_char(b, '[');
				cr_buf_json(b, v);
				cr_buf_char(b, ']');
				has_enum = 1;
			} else if (cr_arr_iter(v, &it2)) {
				cr_buf_key(b, "enum");
				cr_buf_char(b, '[');
				while (cr_arr_next(&it2, &e)) {
					if (!cr_is(e, CR_STRING)) continue;
					cr_buf_sep(b);
					cr_buf_json(b, e);
				}
				cr_buf_char(b, ']');
				has_enum = 1;
			}
		} else if (cr_str_eq(k, "properties")) {
			if (!cr_obj_iter(v, &it2)) continue;
			cr_buf_key(b, "properties");
			cr_buf_char(b, '{');
			while (cr_obj_next(&it2, &k, &e)) {
				cr_buf_sep(b);
				cr_buf_json_str(b, k);
				cr_buf_char(b, ':');
				write_schema(b, e, depth + 1);
			}
			cr_buf_char(b, '}');
		} else if (cr_str_eq(k, "items")) {
			if (!cr_is(v, CR_OBJECT)) continue;
			cr_buf_key(b, "items");
			write_schema(b, v, depth + 1);
		} else if (cr_str_eq(k, "anyOf") || cr_str_eq(k, "oneOf")) {
			if (!cr_arr_iter(v, &it2)) continue;
			cr_buf_key(b, "anyOf");
			cr_buf_char(b, '[');
			while (cr_arr_next(&it2, &e)) {
				cr_json t = cr_obj_get(e, "type");
				if (cr_is(t, CR_STRING) && cr_str_eq(t, "null")) {
					nullable = 1; /* {"type":"null"} members become nullable */
					continue;
				}
				cr_buf_sep(b);
				write_schema(b, e, depth + 1);
			}
			cr_buf_char(b, ']');
		} else if (cr_str_eq(k, "required") || cr_str_eq(k, "propertyOrdering")) {
			if (!cr_arr_iter(v, &it2)) continue;
			cr_buf_sep(b);
			cr_buf_json_str(b, k);
			cr_buf_lit(b, ":[");
			while (cr_arr_next(&it2, &e)) {
				if (!cr_is(e, CR_STRING)) continue;
				cr_buf_sep(b);
				cr_buf_json(b, e);
			}
			cr_buf_char(b, ']');
		} else if (cr_str_eq(k, "minimum") || cr_str_eq(k, "maximum") || cr_str_eq(k, "minItems") ||
			   cr_str_eq(k, "maxItems") || cr_str_eq(k, "minLength") || cr_str_eq(k, "maxLength") ||
			   cr_str_eq(k, "minProperties") || cr_str_eq(k, "maxProperties")) {
			if (!cr_is(v, CR_NUMBER)) continue;
			cr_buf_sep(b);
			cr_buf_json_str(b, k);
			cr_buf_char(b, ':');
			cr_buf_json(b, v);
		} else if (cr_str_eq(k, "default") || cr_str_eq(k, "example")) {
			cr_buf_sep(b);
			cr_buf_json_str(b, k);
			cr_buf_char(b, ':');
			cr_buf_json(b, v);
		}
	}
	/* string formats other than enum and date-time are refused by the API */
	if (cr_is(fmt, CR_STRING) && (!is_string || cr_str_eq(fmt, "enum") || cr_str_eq(fmt, "date-time"))) {
		cr_buf_key(b, "format");
		cr_buf_json(b, fmt);
	}
	if (nullable) {
		cr_buf_key(b, "nullable");
		cr_buf_lit(b, "true");
	}
	cr_buf_char(b, '}');
	cr_buf_free(&scratch);
}

/* schema_is_empty_object reports an object schema without properties, which the API refuses
 * as function parameters ("should be non-empty for OBJECT type"): such a function takes none. */
static int schema_is_empty_object(cr_json s) {
	cr_json props = cr_obj_get(s, "properties");
	cr_iter it;
	cr_json k, v;
	if (!cr_is(s, CR_OBJECT)) return 1;
	if (!cr_obj_iter(props, &it)) return 1;
	return !cr_obj_next(&it, &k, &v);
}

/* ---------------------------------------------------------------- hook_format_request */

enum { ROLE_NONE = 0, ROLE_USER, ROLE_MODEL };
enum { M_ROLE, M_CONTENT, M_TOOL_CALLS, M_NAME, M_TOOL_CALL_ID, M_COUNT };
static const char *const msg_keys[M_COUNT] = {"role", "content", "tool_calls", "name", "tool_call_id"};


typedef struct {
	cr_buf *out, *parts, *sys, *scratch;
	cr_json last_calls; /* tool_calls of the latest assistant message */
	int cur_role;
} conv;

/* mime_of_url guesses a media type from a URL's extension; Gemini requires one for fileData. */
static const char *mime_of_url(const char *p, size_t n) {
	size_t i;
	for (i = 0; i < n; i++)
		if (p[i] == '?' || p[i] == '#') {
			n = i;
			break;
		}
	if (has_suffix_ci(p, n, ".png")) return "image/png";
	if (has_suffix_ci(p, n, ".gif")) return "image/gif";
	if (has_suffix_ci(p, n, ".webp")) return "image/webp";
	if (has_suffix_ci(p, n, ".heic")) return "image/heic";
	if (has_suffix_ci(p, n, ".heif")) return "image/heif";
	if (has_suffix_ci(p, n, ".pdf")) return "application/pdf";
	if (has_suffix_ci(p, n, ".mp3")) return "audio/mp3";
	if (has_suffix_ci(p, n, ".wav")) return "audio/wav";
	if (has_suffix_ci(p, n, ".mp4")) return "video/mp4";
	return "image/jpeg";
}

/* write_media writes an inlineData part for a data: URL or a fileData part for any other
 * URL. Returns an error message or NULL. */
static const char *write_media(cr_buf *parts, cr_json url, cr_buf *scratch) {
	const char *p, *comma, *semi;
	size_t n;
	if (!text_of(url, scratch, &p, &n) || n == 0) return "format-gemini: image_url.url must be a non-empty string";
	cr_buf_sep(parts);
	if (n >= 5 && memcmp(p, "data:", 5) == 0) {
		comma = memchr(p, ',', n);
		if (!comma) return "format-gemini: malformed data: URL";
		if (!has_suffix_ci(p, (size_t)(comma - p), ";base64")) return "format-gemini: only base64 data: URLs can be sent to Gemini";
		semi = memchr(p, ';', (size_t)(comma - p));
		cr_buf_lit(parts, "{\"inlineData\":{\"mimeType\":");
		if (semi == p + 5) cr_buf_lit(parts, "\"application/octet-stream\"");
		else cr_buf_str(parts, p + 5, (size_t)(semi - p - 5));
		cr_buf_lit(parts, ",\"data\":");
		cr_buf_str(parts, comma + 1, n - (size_t)(comma + 1 - p));
		cr_buf_lit(parts, "}}");
		return NULL;
	}
	cr_buf_lit(parts, "{\"fileData\":{\"mimeType\":\"");
	cr_buf_cstr_raw(parts, mime_of_url(p, n));
	cr_buf_lit(parts, "\",\"fileUri\":");
	cr_buf_str(parts, p, n);
	cr_buf_lit(parts, "}}");
	return NULL;
}

/* write_content_parts appends the parts of an OpenAI content value (a string or an array of
 * content parts). Empty strings are dropped: the API refuses empty text parts. */
static const char *write_content_parts(cr_buf *parts, cr_json content, cr_buf *scratch) {
	cr_iter it;
	cr_json e, type, v;
	const char *err;
	if (cr_is(content, CR_STRING)) {
		if (str_nonempty(content)) {
			cr_buf_sep(parts);
			cr_buf_lit(parts, "{\"text\":");
			cr_buf_json(parts, content);
			cr_buf_char(parts, '}');
		}
		return NULL;
	}
	if (!cr_arr_iter(content, &it)) return NULL; /* null or absent */
	while (cr_arr_next(&it, &e)) {
		type = cr_obj_get(e, "type");
		if (cr_str_eq(type, "text") || cr_str_eq(type, "refusal")) {
			v = cr_obj_get(e, cr_str_eq(type, "text") ? "text" : "refusal");
			if (!str_nonempty(v)) continue;
			cr_buf_sep(parts);
			cr_buf_lit(parts, "{\"text\":");
			cr_buf_json(parts, v);
			cr_buf_char(parts, '}');
		} else if (cr_str_eq(type, "image_url")) {
			v = cr_obj_get(e, "image_url");
			if (cr_is(v, CR_OBJECT)) v = cr_obj_get(v, "url");
			if ((err = write_media(parts, v, scratch))) return err;
		} else if (cr_str_eq(type, "input_audio")) {
			cr_json a = cr_obj_get(e, "input_audio");
			cr_json data = cr_obj_get(a, "data"), fmt = cr_obj_get(a, "format");
			if (!cr_is(data, CR_STRING)) return "format-gemini: input_audio.data must be a string";
			cr_buf_sep(parts);
			cr_buf_lit(parts, "{\"inlineData\":{\"mimeType\":");
			if (cr_str_eq(fmt, "mp3")) cr_buf_lit(parts, "\"audio/mp3\"");
			else cr_buf_lit(parts, "\"audio/wav\"");
			cr_buf_lit(parts, ",\"data\":");
			cr_buf_json(parts, data);
			cr_buf_lit(parts, "}}");
		} else if (cr_str_eq(type, "file")) {
			cr_json f = cr_obj_get(e, "file");
			if ((err = write_media(parts, cr_obj_get(f, "file_data"), scratch))) return err;
		} else {
			return "format-gemini: unsupported content part type";
		}
	}
	if (it.err) return "format-gemini: malformed content";
	return NULL;
}

/* write_args writes a function call's args object from OpenAI's arguments string. */
static const char *write_args(cr_buf *parts, cr_json args, cr_buf *scratch) {
	const char *p;
	size_t n;
	cr_json v;
	if (cr_is(args, CR_OBJECT)) { /* some clients send the object itself */
		cr_buf_json(parts, args);
		return NULL;
	}
	if (!cr_present(args) || cr_is_null(args) || (cr_is(args, CR_STRING) && args.n == 2)) {
		cr_buf_lit(parts, "{}");
		return NULL;
	}
	if (!text_of(args, scratch, &p, &n) || !cr_parse(p, n, &v) || !cr_is(v, CR_OBJECT))
		return "format-gemini: tool call arguments are not a JSON object";
	cr_buf_json(parts, v);
	return NULL;
}

/* call_name finds the name of the call with id in one tool_calls array. */
static cr_json call_name(cr_json calls, cr_json id) {
	static const char *const tc_keys[2] = {"id", "function"};
	cr_iter ti;
	cr_json tc, tv[2], found = NONE;
	const char *ip, *tp;
	size_t in, tn;
	cr_buf s1 = {0}, s2 = {0};
	if (text_of(id, &s1, &ip, &in)) {
		cr_arr_iter(calls, &ti);
		while (cr_arr_next(&ti, &tc)) {
			pick(tc, tc_keys, 2, tv);
			if (text_of(tv[0], &s2, &tp, &tn) && tn == in && memcmp(tp, ip, in) == 0) {
				found = cr_obj_get(tv[1], "name");
				break;
			}
		}
	}
	cr_buf_free(&s1);
	cr_buf_free(&s2);
	return found;
}

/* tool_name finds the name of the call with id in the assistant messages before msg (the
 * nearest first, since ids such as call_0 repeat from turn to turn). Tool messages nearly
 * always answer the latest assistant message, which the caller tries first; this full
 * search is the fallback. */
static cr_json tool_name(cr_json messages, size_t before, cr_json id) {
	cr_iter it;
	cr_json m, mv[3], found = NONE, n;
	size_t i = 0;
	cr_arr_iter(messages, &it);
	while (i < before && cr_arr_next(&it, &m)) {
		i++;
		pick(m, msg_keys, 3, mv);
		if (!cr_str_eq(mv[M_ROLE], "assistant")) continue;
		n = call_name(mv[M_TOOL_CALLS], id);
		if (n.n) found = n;
	}
	return found;
}

/* Thinking models sign their function calls, and Gemini 3 refuses a history whose calls lost
 * their thoughtSignature. OpenAI clients keep nothing but the tool call's id reliably, so the
 * signature rides in the id after SIG_SEP (and is also read from extra_content.google, where
 * Google's own OpenAI-compatible endpoint puts it). */
#define SIG_SEP "__thought__"

static void write_signature(cr_buf *parts, cr_json id, cr_json extra) {
	cr_json r = cr_str_raw(id), sig;
	const char *at = NULL, *p;
	size_t k = sizeof SIG_SEP - 1;
	if (r.p && r.n > k) {
		for (p = r.p; p + k <= r.p + r.n; p++) {
			if (*p == '_' && memcmp(p, SIG_SEP, k) == 0) {
				at = p + k;
				break;
			}
		}
	}
	if (at && at < r.p + r.n) {
		cr_buf_lit(parts, ",\"thoughtSignature\":\"");
		cr_buf_raw(parts, at, (size_t)(r.p + r.n - at)); /* the inside of a valid JSON string */
		cr_buf_char(parts, '"');
		return;
	}
	sig = cr_obj_get(cr_obj_get(extra, "google"), "thought_signature");
	if (str_nonempty(sig)) {
		cr_buf_lit(parts, ",\"thoughtSignature\":");
		cr_buf_json(parts, sig);
	}
}

/* write_tool_response writes a functionResponse part for a tool message. */
static const char *write_tool_response(cr_buf *parts, cr_json name, cr_json content, cr_buf *scratch) {
	const char *p;
	size_t n;
	cr_json v;
	cr_iter it;
	cr_buf_sep(parts);
	cr_buf_lit(parts, "{\"functionResponse\":{\"name\":");
	cr_buf_json(parts, name);
	cr_buf_lit(parts, ",\"response\":");
	if (cr_is(content, CR_STRING) && text_of(content, scratch, &p, &n) && cr_parse(p, n, &v) && cr_is(v, CR_OBJECT)) {
		cr_buf_json(parts, v); /* a JSON object result is passed as the structured response */
	} else {
		cr_buf_lit(parts, "{\"content\":");
		if (cr_is(content, CR_STRING)) {
			cr_buf_json(parts, content);
		} else if (cr_arr_iter(content, &it)) {
			cr_json e;
			cr_buf_char(parts, '"');
			while (cr_arr_next(&it, &e)) {
				cr_json t = cr_obj_get(e, "text");
				cr_json r = cr_str_raw(t);
				if (r.p) cr_buf_raw(parts, r.p, r.n);
			}
			cr_buf_char(parts, '"');
		} else {
			cr_buf_lit(parts, "\"\"");
		}
		cr_buf_char(parts, '}');
	}
	cr_buf_lit(parts, "}}");
	return NULL;
}

/* emit_turn appends the parts gathered for one message to the contents array, merging them
 * into the previous turn when the role is the same (the API wants alternating turns, and all
 * responses to one round of calls in one turn). */
static void emit_turn(conv *c, int role) {
	if (c->parts->n == 0) return;
	if (role != c->cur_role) {
		if (c->cur_role != ROLE_NONE) cr_buf_lit(c->out, "]}");
		cr_buf_sep(c->out);
		if (role == ROLE_USER) cr_buf_lit(c->out, "{\"role\":\"user\",\"parts\":[");
		else cr_buf_lit(c->out, "{\"role\":\"model\",\"parts\":[");
		c->cur_role = role;
	} else {
		cr_buf_char(c->out, ',');
	}
	cr_buf_raw(c->out, c->parts->p, c->parts->n);
}

static const char *write_contents(conv *c, cr_json messages) {
	cr_iter it, ti;
	cr_json m, role, tc, mv[M_COUNT];
	size_t idx = 0;
	const char *err;
	cr_buf_key(c->out, "contents");
	cr_buf_char(c->out, '[');
	cr_arr_iter(messages, &it);
	while (cr_arr_next(&it, &m)) {
		idx++;
		cr_buf_reset(c->parts);
		pick(m, msg_keys, M_COUNT, mv);
		role = mv[M_ROLE];
		if (cr_str_eq(role, "system") || cr_str_eq(role, "developer")) {
			if ((err = write_content_parts(c->sys, mv[M_CONTENT], c->scratch))) return err;
			continue;
		}
		if (cr_str_eq(role, "user")) {
			if ((err = write_content_parts(c->parts, mv[M_CONTENT], c->scratch))) return err;
			emit_turn(c, ROLE_USER);
		} else if (cr_str_eq(role, "assistant")) {
			if ((err = write_content_parts(c->parts, mv[M_CONTENT], c->scratch))) return err;
			if (cr_present(mv[M_TOOL_CALLS])) c->last_calls = mv[M_TOOL_CALLS];
			cr_arr_iter(mv[M_TOOL_CALLS], &ti);
			while (cr_arr_next(&ti, &tc)) {
				static const char *const tc_keys[3] = {"function", "id", "extra_content"};
				cr_json tv[3], fn, name;
				pick(tc, tc_keys, 3, tv);
				fn = tv[0];
				name = cr_obj_get(fn, "name");
				if (!str_nonempty(name)) return "format-gemini: tool call without a function name";
				cr_buf_sep(c->parts);
				cr_buf_lit(c->parts, "{\"functionCall\":{\"name\":");
				cr_buf_json(c->parts, name);
				cr_buf_lit(c->parts, ",\"args\":");
				if ((err = write_args(c->parts, cr_obj_get(fn, "arguments"), c->scratch))) return err;
				cr_buf_char(c->parts, '}');
				write_signature(c->parts, tv[1], tv[2]);
				cr_buf_char(c->parts, '}');
			}
			emit_turn(c, ROLE_MODEL);
		} else if (cr_str_eq(role, "tool") || cr_str_eq(role, "function")) {
			cr_json name = mv[M_NAME];
			cr_json id = mv[M_TOOL_CALL_ID];
			if (cr_present(id)) {
				cr_json n2 = call_name(c->last_calls, id);
				if (!n2.n) n2 = tool_name(messages, idx - 1, id);
				if (n2.n) name = n2;
			}
			if (!str_nonempty(name)) return "format-gemini: tool message does not answer any earlier tool call";
			if ((err = write_tool_response(c->parts, name, mv[M_CONTENT], c->scratch))) return err;
			emit_turn(c, ROLE_USER);
		} else {
			return "format-gemini: unknown message role";
		}
	}
	if (it.err) return "format-gemini: malformed messages";
	if (c->cur_role == ROLE_NONE) return "format-gemini: the request has no user or assistant message";
	cr_buf_lit(c->out, "]}]");
	return NULL;
}

/* write_system writes the system and developer messages gathered by write_contents. */
static void write_system(conv *c) {
	if (!c->sys->n) return;
	cr_buf_key(c->out, "systemInstruction");
	cr_buf_lit(c->out, "{\"parts\":[");
	cr_buf_raw(c->out, c->sys->p, c->sys->n);
	cr_buf_lit(c->out, "]}");
}

static const char *write_tools(cr_buf *out, cr_json tools, cr_json choice) {
	static const char *const tool_keys[2] = {"type", "function"};
	static const char *const fn_keys[3] = {"name", "description", "parameters"};
	cr_iter it;
	cr_json t, params, tv[2], fv[3];
	size_t mark = out->n;
	cr_buf_key(out, "tools");
	cr_buf_lit(out, "[{\"functionDeclarations\":[");
	cr_arr_iter(tools, &it);
	while (cr_arr_next(&it, &t)) {
		pick(t, tool_keys, 2, tv);
		if (cr_present(tv[0]) && !cr_str_eq(tv[0], "function")) return "format-gemini: only function tools can be sent to Gemini";
		pick(tv[1], fn_keys, 3, fv);
		if (!str_nonempty(fv[0])) return "format-gemini: tool without a function name";
		cr_buf_sep(out);
		cr_buf_lit(out, "{\"name\":");
		cr_buf_json(out, fv[0]);
		if (cr_is(fv[1], CR_STRING)) {
			cr_buf_lit(out, ",\"description\":");
			cr_buf_json(out, fv[1]);
		}
		params = fv[2];
		if (!schema_is_empty_object(params)) {
			cr_buf_lit(out, ",\"parameters\":");
			write_schema(out, params, 0);
		}
		cr_buf_char(out, '}');
	}
	if (out->p[out->n - 1] == '[') out->n = mark; /* no tools: drop the key */
	else cr_buf_lit(out, "]}]");

	if (cr_is(choice, CR_STRING)) {
		const char *mode = NULL;
		if (cr_str_eq(choice, "auto")) mode = "AUTO";
		else if (cr_str_eq(choice, "none")) mode = "NONE";
		else if (cr_str_eq(choice, "required")) mode = "ANY";
		if (!mode) return "format-gemini: unknown tool_choice";
		cr_buf_key(out, "toolConfig");
		cr_buf_lit(out, "{\"functionCallingConfig\":{\"mode\":\"");
		cr_buf_cstr_raw(out, mode);
		cr_buf_lit(out, "\"}}");
	} else if (cr_is(choice, CR_OBJECT)) {
		cr_json name = cr_obj_get(cr_obj_get(choice, "function"), "name");
		if (!str_nonempty(name)) return "format-gemini: tool_choice names no function";
		cr_buf_key(out, "toolConfig");
		cr_buf_lit(out, "{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[");
		cr_buf_json(out, name);
		cr_buf_lit(out, "]}}");
	}
	return NULL;
}

enum {
	R_MESSAGES, R_MODEL, R_STREAM, R_TOOLS, R_TOOL_CHOICE, R_TEMPERATURE, R_TOP_P, R_MAX_COMPLETION,
	R_MAX_TOKENS, R_N, R_SEED, R_PRESENCE, R_FREQUENCY, R_STOP, R_RESPONSE_FORMAT, R_LOGPROBS,
	R_TOP_LOGPROBS, R_REASONING, R_COUNT
};
static const char *const req_keys[R_COUNT] = {
	"messages", "model", "stream", "tools", "tool_choice", "temperature", "top_p", "max_completion_tokens",
	"max_tokens", "n", "seed", "presence_penalty", "frequency_penalty", "stop", "response_format", "logprobs",
	"top_logprobs", "reasoning_effort"};

static void write_generation(cr_buf *out, const cr_json *req) {
	size_t mark = out->n;
	cr_json v, rf;
	cr_iter it;
	cr_buf_key(out, "generationConfig");
	cr_buf_char(out, '{');
	copy_num(out, "temperature", req[R_TEMPERATURE]);
	copy_num(out, "topP", req[R_TOP_P]);
	v = req[R_MAX_COMPLETION];
	if (!cr_is(v, CR_NUMBER)) v = req[R_MAX_TOKENS];
	copy_num(out, "maxOutputTokens", v);
	copy_num(out, "candidateCount", req[R_N]);
	copy_num(out, "seed", req[R_SEED]);
	copy_num(out, "presencePenalty", req[R_PRESENCE]);
	copy_num(out, "frequencyPenalty", req[R_FREQUENCY]);
	v = req[R_STOP];
	if (str_nonempty(v)) {
		cr_buf_key(out, "stopSequences");
		cr_buf_char(out, '[');
		cr_buf_json(out, v);
		cr_buf_char(out, ']');
	} else if (cr_arr_iter(v, &it)) {
		size_t m2 = out->n;
		cr_json e;
		cr_buf_key(out, "stopSequences");
		cr_buf_char(out, '[');
		while (cr_arr_next(&it, &e)) {
			if (!str_nonempty(e)) continue;
			cr_buf_sep(out);
			cr_buf_json(out, e);
		}
		if (out->p[out->n - 1] == '[') out->n = m2;
		else cr_buf_char(out, ']');
	}
	rf = req[R_RESPONSE_FORMAT];
	v = cr_obj_get(rf, "type");
	if (cr_str_eq(v, "json_object")) {
		cr_buf_key(out, "responseMimeType");
		cr_buf_lit(out, "\"application/json\"");
	} else if (cr_str_eq(v, "json_schema")) {
		cr_json schema = cr_obj_get(cr_obj_get(rf, "json_schema"), "schema");
		cr_buf_key(out, "responseMimeType");
		cr_buf_lit(out, "\"application/json\"");
		if (cr_is(schema, CR_OBJECT)) {
			cr_buf_key(out, "responseSchema");
			write_schema(out, schema, 0);
		}
	}
	v = req[R_LOGPROBS];
	if (cr_is(v, CR_TRUE)) {
		cr_buf_key(out, "responseLogprobs");
		cr_buf_lit(out, "true");
		copy_num(out, "logprobs", req[R_TOP_LOGPROBS]);
	}
	/* reasoning_effort maps onto thinking budgets as Google's OpenAI-compatible endpoint does */
	v = req[R_REASONING];
	if (cr_is(v, CR_STRING)) {
		const char *budget = NULL;
		if (cr_str_eq(v, "none") || cr_str_eq(v, "minimal")) budget = "0";
		else if (cr_str_eq(v, "low")) budget = "1024";
		else if (cr_str_eq(v, "medium")) budget = "8192";
		else if (cr_str_eq(v, "high")) budget = "24576";
		if (budget) {
			cr_buf_key(out, "thinkingConfig");
			cr_buf_lit(out, "{\"thinkingBudget\":");
			cr_buf_cstr_raw(out, budget);
			if (budget[0] != '0') cr_buf_lit(out, ",\"includeThoughts\":true");
			cr_buf_char(out, '}');
		}
	}
	if (out->p[out->n - 1] == '{') out->n = mark;
	else cr_buf_char(out, '}');
}

/* write_model_path writes /models/{model}:method, percent-encoding anything outside the
 * unreserved set so a hostile model id cannot change the path. */
static void write_model_path(cr_buf *out, const char *p, size_t n, int stream) {
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	if (n > 7 && memcmp(p, "models/", 7) == 0) {
		p += 7;
		n -= 7;
	}
	cr_buf_lit(out, "\"/models/");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			cr_buf_char(out, (char)ch);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			cr_buf_raw(out, e, 3);
		}
	}
	if (stream) cr_buf_lit(out, ":streamGenerateContent\"");
	else cr_buf_lit(out, ":generateContent\"");
}

CR_EXPORT("hook_format_request") uint64_t hook_format_request(uint32_t ptr, uint32_t len) {
	cr_json in, req, messages, model, rv[R_COUNT];
	cr_hook_input f;
	cr_buf out, parts, sys, scratch, mscratch = {0};
	conv c;
	const char *err, *mp;
	size_t mn;
	int stream;
	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f)) return bad_request("format-gemini: input is not a format_request object");
	req = f.request;
	if (!cr_is(req, CR_OBJECT)) return bad_request("format-gemini: request is not an object");
	pick(req, req_keys, R_COUNT, rv);
	messages = rv[R_MESSAGES];
	if (!cr_is(messages, CR_ARRAY)) return bad_request("format-gemini: request has no messages array");
	model = cr_is(f.model, CR_STRING) ? f.model : rv[R_MODEL];
	if (!str_nonempty(model) || !text_of(model, &mscratch, &mp, &mn)) return bad_request("format-gemini: no model");
	stream = f.stream;
	if (!cr_present(cr_obj_get(in, "stream"))) cr_bool(rv[R_STREAM], &stream);

	cr_buf_init(&out, 512 + len + len / 8);
	cr_buf_init(&parts, 256);
	cr_buf_init(&sys, 256);
	cr_buf_init(&scratch, 64);
	cr_buf_lit(&out, "{\"method\":\"POST\",\"path\":");
	write_model_path(&out, mp, mn, stream);
	cr_buf_free(&mscratch);
	if (stream) cr_buf_lit(&out, ",\"query\":\"alt=sse\"");
	cr_buf_lit(&out, ",\"headers\":{\"x-goog-api-key\":\"{{api_key}}\"},\"body\":{");
	c.out = &out;
	c.parts = &parts;
	c.scratch = &scratch;
	c.sys = &sys;
	c.last_calls = NONE;
	c.cur_role = ROLE_NONE;
	err = write_contents(&c, messages);
	if (!err) write_system(&c);
	if (!err) err = write_tools(&out, rv[R_TOOLS], rv[R_TOOL_CHOICE]);
	cr_buf_free(&parts);
	cr_buf_free(&sys);
	cr_buf_free(&scratch);
	if (err) {
		cr_buf_free(&out);
		return bad_request(err);
	}
	write_generation(&out, rv);
	cr_buf_lit(&out, "}}");
	return cr_buf_result(&out);
}

/* ---------------------------------------------------------------- errors */

typedef struct {
	int status;
	const char *type, *code;
} err_map;

/* map_error turns a google.rpc status into what OpenAI would have answered. API_KEY_INVALID
 * arrives as 400 INVALID_ARGUMENT but is an authentication failure: OpenAI says 401. */
static err_map map_error(int64_t http, cr_json err) {
	err_map m;
	cr_json st = cr_obj_get(err, "status");
	cr_json details = cr_obj_get(err, "details");
	int64_t code = 0;
	cr_iter it;
	cr_json d;
	if (http <= 0 && cr_i64(cr_obj_get(err, "code"), &code)) http = code;
	m.status = (int)(http > 0 && http < 1000 ? http : 500);
	m.type = "api_error";
	m.code = "upstream_error";
	cr_arr_iter(details, &it);
	while (cr_arr_next(&it, &d)) {
		if (cr_str_eq(cr_obj_get(d, "reason"), "API_KEY_INVALID")) {
			m.status = 401;
			m.type = "authentication_error";
			m.code = "invalid_api_key";
			return m;
		}
	}
	if (cr_str_eq(st, "INVALID_ARGUMENT") || cr_str_eq(st, "FAILED_PRECONDITION") || cr_str_eq(st, "OUT_OF_RANGE")) {
		m.type = "invalid_request_error";
		m.code = "invalid_argument";
	} else if (cr_str_eq(st, "UNAUTHENTICATED")) {
		m.type = "authentication_error";
		m.code = "invalid_api_key";
	} else if (cr_str_eq(st, "PERMISSION_DENIED")) {
		m.type = "permission_error";
		m.code = "permission_denied";
	} else if (cr_str_eq(st, "NOT_FOUND")) {
		m.type = "not_found_error";
		m.code = "model_not_found";
	} else if (cr_str_eq(st, "RESOURCE_EXHAUSTED")) {
		m.type = "rate_limit_error";
		m.code = "rate_limit_exceeded";
	} else if (cr_str_eq(st, "UNAVAILABLE")) {
		m.type = "overloaded";
		m.code = "overloaded";
	} else if (cr_str_eq(st, "DEADLINE_EXCEEDED")) {
		m.type = "timeout";
		m.code = "deadline_exceeded";
	} else if (cr_str_eq(st, "INTERNAL") || cr_str_eq(st, "UNKNOWN") || cr_str_eq(st, "DATA_LOSS")) {
		m.type = "server_error";
		m.code = "internal_error";
	} else if (m.status == 429) {
		m.type = "rate_limit_error";
		m.code = "rate_limit_exceeded";
	} else if (m.status == 503) {
		m.type = "overloaded";
		m.code = "overloaded";
	} else if (m.status >= 500) {
		m.type = "server_error";
		m.code = "internal_error";
	} else if (m.status == 401) {
		m.type = "authentication_error";
		m.code = "invalid_api_key";
	} else if (m.status == 403) {
		m.type = "permission_error";
		m.code = "permission_denied";
	} else if (m.status == 404) {
		m.type = "not_found_error";
		m.code = "not_found";
	} else if (m.status >= 400) {
		m.type = "invalid_request_error";
		m.code = "invalid_request";
	}
	return m;
}

/* write_error_fields writes "status":..,"type":..,"code":..,"message":.. for a Google error
 * object err (or a non-JSON body string), without braces. */
static void write_error_fields(cr_buf *b, int64_t http, cr_json body, cr_json err) {
	err_map m = map_error(http, err);
	cr_json msg = cr_obj_get(err, "message");
	cr_buf_key(b, "status");
	cr_buf_i64(b, m.status);
	cr_buf_lit(b, ",\"type\":\"");
	cr_buf_cstr_raw(b, m.type);
	cr_buf_lit(b, "\",\"code\":\"");
	cr_buf_cstr_raw(b, m.code);
	cr_buf_lit(b, "\",\"message\":");
	if (str_nonempty(msg)) {
		cr_buf_json(b, msg);
	} else if (str_nonempty(body)) {
		/* a non-JSON body (an HTML page from a proxy): keep its head. Cutting the decoded
		 * text may split a UTF-8 sequence; the writer turns that into U+FFFD. */
		char *tmp = (char *)malloc(body.n);
		long k = tmp ? cr_str_decode(body, tmp, body.n) : -1;
		if (k >= 0) cr_buf_str(b, tmp, (size_t)(k > 512 ? 512 : k));
		else cr_buf_lit(b, "\"upstream error\"");
		free(tmp);
	} else {
		cr_buf_lit(b, "\"gemini: upstream returned status ");
		cr_buf_i64(b, m.status);
		cr_buf_char(b, '"');
	}
}

CR_EXPORT("hook_format_error") uint64_t hook_format_error(uint32_t ptr, uint32_t len) {
	cr_json in;
	cr_hook_input f;
	cr_buf out;
	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f)) return bad_request("format-gemini: input is not a format_error object");
	cr_buf_init(&out, 256);
	cr_buf_char(&out, '{');
	write_error_fields(&out, f.status, f.body, cr_obj_get(f.body, "error"));
	cr_buf_char(&out, '}');
	return cr_buf_result(&out);
}

/* ---------------------------------------------------------------- responses */

/* write_concat writes the text parts of a candidate (thought or not) as one JSON string and
 * returns how many there were; with none it writes nothing. The insides of valid JSON
 * strings concatenate into a valid JSON string, so nothing is decoded. */
static const char *const part_keys[2] = {"text", "thought"};

static int write_concat(cr_buf *b, cr_json parts, int thought) {
	cr_iter it;
	cr_json p, text, r, pv[2];
	int n = 0, t;
	cr_arr_iter(parts, &it);
	while (cr_arr_next(&it, &p)) {
		pick(p, part_keys, 2, pv);
		text = pv[0];
		if (!cr_is(text, CR_STRING)) continue;
		t = 0;
		cr_bool(pv[1], &t);
		if (t != thought) continue;
		if (n++ == 0) cr_buf_char(b, '"');
		r = cr_str_raw(text);
		cr_buf_raw(b, r.p, r.n);
	}
	if (n) cr_buf_char(b, '"');
	return n;
}

/* write_tool_calls writes the functionCall parts as OpenAI tool calls, numbering them from
 * *next; with stream set, each carries its index as a delta does. Returns how many. */
static int write_tool_calls(cr_buf *b, cr_json parts, int *next, int stream) {
	static const char *const fc_keys[3] = {"id", "name", "args"};
	static const char *const p_keys[2] = {"functionCall", "thoughtSignature"};
	cr_iter it;
	cr_json p, fc, id, args, fv[3], pv[2], sig;
	int n = 0;
	cr_arr_iter(parts, &it);
	while (cr_arr_next(&it, &p)) {
		pick(p, p_keys, 2, pv);
		fc = pv[0];
		if (!cr_is(fc, CR_OBJECT)) continue;
		pick(fc, fc_keys, 3, fv);
		if (n++ == 0) {
			cr_buf_key(b, "tool_calls");
			cr_buf_char(b, '[');
		} else {
			cr_buf_char(b, ',');
		}
		cr_buf_char(b, '{');
		if (stream) {
			cr_buf_lit(b, "\"index\":");
			cr_buf_i64(b, *next);
			cr_buf_char(b, ',');
		}
		/* Gemini names calls but gives them no id (except on Vertex): make a stable one */
		id = fv[0];
		sig = cr_str_raw(pv[1]);
		cr_buf_lit(b, "\"id\":\"");
		if (str_nonempty(id)) {
			cr_json r = cr_str_raw(id);
			cr_buf_raw(b, r.p, r.n);
		} else {
			cr_buf_lit(b, "call_");
			cr_buf_i64(b, *next);
		}
		if (sig.n) {
			cr_buf_lit(b, SIG_SEP);
			cr_buf_raw(b, sig.p, sig.n);
		}
		cr_buf_char(b, '"');
		cr_buf_lit(b, ",\"type\":\"function\",\"function\":{\"name\":");
		cr_buf_json_str(b, fv[1]);
		cr_buf_lit(b, ",\"arguments\":");
		args = fv[2];
		if (cr_present(args)) cr_buf_str_of_json(b, args);
		else cr_buf_lit(b, "\"{}\"");
		cr_buf_lit(b, "}}");
		(*next)++;
	}
	if (n) cr_buf_char(b, ']');
	return n;
}

static const char *finish_reason(cr_json fr, int tools) {
	if (cr_str_eq(fr, "STOP")) return tools ? "tool_calls" : "stop";
	if (cr_str_eq(fr, "MAX_TOKENS")) return "length";
	if (cr_str_eq(fr, "SAFETY") || cr_str_eq(fr, "RECITATION") || cr_str_eq(fr, "BLOCKLIST") ||
	    cr_str_eq(fr, "PROHIBITED_CONTENT") || cr_str_eq(fr, "SPII") || cr_str_eq(fr, "IMAGE_SAFETY") ||
	    cr_str_eq(fr, "IMAGE_PROHIBITED_CONTENT"))
		return "content_filter";
	return tools ? "tool_calls" : "stop";
}

static void write_usage(cr_buf *b, cr_json um) {
	static const char *const keys[5] = {"promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount", "thoughtsTokenCount"};
	int64_t prompt = 0, cand = 0, total = -1, cached = -1, thoughts = -1;
	cr_json v[5];
	pick(um, keys, 5, v);
	cr_i64(v[0], &prompt);
	cr_i64(v[1], &cand);
	cr_i64(v[2], &total);
	cr_i64(v[3], &cached);
	cr_i64(v[4], &thoughts);
	cr_buf_key(b, "usage");
	cr_buf_lit(b, "{\"prompt_tokens\":");
	cr_buf_i64(b, prompt);
	cr_buf_lit(b, ",\"completion_tokens\":");
	cr_buf_i64(b, cand + (thoughts > 0 ? thoughts : 0));
	cr_buf_lit(b, ",\"total_tokens\":");
	cr_buf_i64(b, total >= 0 ? total : prompt + cand + (thoughts > 0 ? thoughts : 0));
	if (cached >= 0) {
		cr_buf_lit(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
		cr_buf_i64(b, cached);
		cr_buf_char(b, '}');
	}
	if (thoughts >= 0) {
		cr_buf_lit(b, ",\"completion_tokens_details\":{\"reasoning_tokens\":");
		cr_buf_i64(b, thoughts);
		cr_buf_char(b, '}');
	}
	cr_buf_char(b, '}');
}

static int64_t now_s(void) { return cr_clock_ns() / 1000000000; }

/* The members of a GenerateContentResponse (a whole body or one stream event). */
enum { G_CANDIDATES, G_USAGE, G_ID, G_MODEL, G_FEEDBACK, G_ERROR, G_COUNT };
static const char *const resp_keys[G_COUNT] = {"candidates", "usageMetadata", "responseId", "modelVersion", "promptFeedback", "error"};
enum { C_CONTENT, C_FINISH, C_INDEX, C_COUNT };
static const char *const cand_keys[C_COUNT] = {"content", "finishReason", "index"};

/* write_head writes "id","object","created","model" of a completion or chunk. */
static void write_head(cr_buf *b, const cr_json *resp, cr_json model, int64_t created, int chunk) {
	cr_json id = resp[G_ID], mv = resp[G_MODEL];
	cr_buf_lit(b, "{\"id\":");
	if (str_nonempty(id)) cr_buf_json(b, id);
	else cr_buf_lit(b, "\"chatcmpl-gemini\"");
	if (chunk) cr_buf_lit(b, ",\"object\":\"chat.completion.chunk\",\"created\":");
	else cr_buf_lit(b, ",\"object\":\"chat.completion\",\"created\":");
	cr_buf_i64(b, created);
	cr_buf_lit(b, ",\"model\":");
	if (str_nonempty(mv)) cr_buf_json(b, mv);
	else cr_buf_json_str(b, model);
}

CR_EXPORT("hook_format_response") uint64_t hook_format_response(uint32_t ptr, uint32_t len) {
	cr_json in, body, c, parts, err, g[G_COUNT], cv[C_COUNT];
	cr_hook_input f;
	cr_buf out;
	cr_iter it;
	int next = 0, ntools, i = 0;
	int64_t idx;
	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f)) return bad_request("format-gemini: input is not a format_response object");
	body = f.body;
	if (!cr_is(body, CR_OBJECT)) return cr_error_full(502, "api_error", "bad_response", "format-gemini: the response body is not a JSON object", strlen("format-gemini: the response body is not a JSON object"));
	pick(body, resp_keys, G_COUNT, g);
	err = g[G_ERROR];
	if (cr_is(err, CR_OBJECT)) {
		cr_buf_init(&out, 256);
		cr_buf_lit(&out, "{\"error\":{");
		write_error_fields(&out, 0, NONE, err);
		cr_buf_lit(&out, "}}");
		return cr_buf_result(&out);
	}
	cr_buf_init(&out, 256 + len);
	write_head(&out, g, f.model, now_s(), 0);
	cr_buf_lit(&out, ",\"choices\":[");
	cr_arr_iter(g[G_CANDIDATES], &it);
	while (cr_arr_next(&it, &c)) {
		idx = i++;
		pick(c, cand_keys, C_COUNT, cv);
		cr_i64(cv[C_INDEX], &idx);
		parts = cr_obj_get(cv[C_CONTENT], "parts");
		cr_buf_sep(&out);
		cr_buf_lit(&out, "{\"index\":");
		cr_buf_i64(&out, idx);
		cr_buf_lit(&out, ",\"message\":{\"role\":\"assistant\",\"content\":");
		if (!write_concat(&out, parts, 0)) cr_buf_lit(&out, "null");
		{
			size_t mark = out.n;
			cr_buf_lit(&out, ",\"reasoning\":");
			if (!write_concat(&out, parts, 1)) out.n = mark;
		}
		ntools = write_tool_calls(&out, parts, &next, 0);
		cr_buf_lit(&out, "},\"logprobs\":null,\"finish_reason\":\"");
		cr_buf_cstr_raw(&out, finish_reason(cv[C_FINISH], ntools));
		cr_buf_lit(&out, "\"}");
	}
	if (i == 0) {
		/* promptFeedback.blockReason: the prompt was refused before any candidate */
		int blocked = cr_present(cr_obj_get(g[G_FEEDBACK], "blockReason"));
		cr_buf_lit(&out, "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null},\"logprobs\":null,\"finish_reason\":\"");
		cr_buf_cstr_raw(&out, blocked ? "content_filter" : "stop");
		cr_buf_lit(&out, "\"}");
	}
	cr_buf_char(&out, ']');
	if (cr_is(g[G_USAGE], CR_OBJECT)) write_usage(&out, g[G_USAGE]);
	cr_buf_char(&out, '}');
	return cr_buf_result(&out);
}

/* ---------------------------------------------------------------- streams */

/* The stream state is "g1 <created> <tool calls so far> <role sent>": small, and a state
 * that does not parse starts the stream afresh instead of failing it. */
typedef struct {
	int64_t created;
	int tools, started;
} stream_state;

static const char *parse_i64(const char *p, const char *end, int64_t *v) {
	int64_t x = 0;
	int digits = 0;
	while (p < end && *p == ' ') p++;
	while (p < end && *p >= '0' && *p <= '9' && digits < 18) {
		x = x * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits) return NULL;
	*v = x;
	return p;
}

static void load_state(cr_json s, stream_state *st) {
	char buf[64];
	long n = -1;
	int64_t a, b2, c;
	const char *p, *end;
	st->created = 0;
	st->tools = st->started = 0;
	if (cr_is(s, CR_STRING) && s.n < sizeof buf) n = cr_str_decode(s, buf, sizeof buf);
	if (n >= 3 && memcmp(buf, "g1 ", 3) == 0) {
		end = buf + n;
		if ((p = parse_i64(buf + 3, end, &a)) && (p = parse_i64(p, end, &b2)) && (p = parse_i64(p, end, &c)) && b2 < 1000000) {
			st->created = a;
			st->tools = (int)b2;
			st->started = c != 0;
			return;
		}
	}
	st->created = now_s();
}

static void save_state(cr_buf *b, const stream_state *st) {
	cr_buf_lit(b, ",\"state\":\"g1 ");
	cr_buf_i64(b, st->created);
	cr_buf_char(b, ' ');
	cr_buf_i64(b, st->tools);
	cr_buf_char(b, ' ');
	cr_buf_i64(b, st->started);
	cr_buf_char(b, '"');
}

/* stream_event translates one decoded event; it returns 1 when the stream is complete, -1
 * when the event was an error (written to errbuf), 0 otherwise. */
static int stream_event(cr_buf *out, cr_buf *errbuf, cr_json ev, cr_json model, stream_state *st) {
	cr_json c, parts, fr, err, um, g[G_COUNT], cv[C_COUNT];
	cr_iter it;
	int finished = 0, any = 0;
	int64_t idx;
	size_t mark;
	pick(ev, resp_keys, G_COUNT, g);
	err = g[G_ERROR];
	if (cr_is(err, CR_OBJECT)) {
		write_error_fields(errbuf, 0, NONE, err);
		return -1;
	}
	cr_arr_iter(g[G_CANDIDATES], &it);
	while (cr_arr_next(&it, &c)) {
		any = 1;
		idx = 0;
		pick(c, cand_keys, C_COUNT, cv);
		cr_i64(cv[C_INDEX], &idx);
		parts = cr_obj_get(cv[C_CONTENT], "parts");
		/* the content chunk, unless this event carries nothing for this candidate */
		mark = out->n;
		cr_buf_sep(out);
		write_head(out, g, model, st->created, 1);
		cr_buf_lit(out, ",\"choices\":[{\"index\":");
		cr_buf_i64(out, idx);
		cr_buf_lit(out, ",\"delta\":{");
		{
			size_t body = out->n, m2;
			if (!st->started) cr_buf_lit(out, "\"role\":\"assistant\"");
			m2 = out->n;
			cr_buf_key(out, "content");
			if (!write_concat(out, parts, 0)) out->n = m2;
			m2 = out->n;
			cr_buf_key(out, "reasoning");
			if (!write_concat(out, parts, 1)) out->n = m2;
			write_tool_calls(out, parts, &st->tools, 1);
			if (out->n == body) {
				out->n = mark; /* nothing for this candidate in this event */
				goto finish;
			}
		}
		cr_buf_lit(out, "},\"logprobs\":null,\"finish_reason\":null}]}");
		st->started = 1;
	finish:
		fr = cv[C_FINISH];
		if (cr_is(fr, CR_STRING)) {
			cr_buf_sep(out);
			write_head(out, g, model, st->created, 1);
			cr_buf_lit(out, ",\"choices\":[{\"index\":");
			cr_buf_i64(out, idx);
			cr_buf_lit(out, ",\"delta\":{");
			if (!st->started) cr_buf_lit(out, "\"role\":\"assistant\"");
			cr_buf_lit(out, "},\"logprobs\":null,\"finish_reason\":\"");
			cr_buf_cstr_raw(out, finish_reason(fr, st->tools > 0));
			cr_buf_lit(out, "\"}]}");
			st->started = 1;
			finished = 1;
		}
	}
	if (!any && cr_present(cr_obj_get(g[G_FEEDBACK], "blockReason"))) {
		cr_buf_sep(out);
		write_head(out, g, model, st->created, 1);
		cr_buf_lit(out, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"logprobs\":null,\"finish_reason\":\"content_filter\"}]}");
		finished = 1;
	}
	if (finished) {
		um = g[G_USAGE];
		cr_buf_sep(out);
		write_head(out, g, model, st->created, 1);
		cr_buf_lit(out, ",\"choices\":[]");
		if (cr_is(um, CR_OBJECT)) write_usage(out, um);
		cr_buf_char(out, '}');
	}
	return finished;
}

CR_EXPORT("hook_format_stream") uint64_t hook_format_stream(uint32_t ptr, uint32_t len) {
	cr_json in, name, data, ev;
	cr_hook_input f;
	cr_iter it;
	cr_buf out, errbuf, scratch;
	stream_state st;
	int done = 0, r = 0;
	const char *p;
	size_t n;
	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f)) return bad_request("format-gemini: input is not a format_stream object");
	load_state(f.state, &st);
	cr_buf_init(&out, 256 + len + len / 2);
	cr_buf_init(&errbuf, 64);
	cr_buf_init(&scratch, 64);
	cr_buf_lit(&out, "{\"chunks\":[");
	cr_arr_iter(f.events, &it);
	while (!done && cr_event_next(&it, &name, &data)) {
		if (cr_is(data, CR_OBJECT)) {
			ev = data; /* sent as "json": validated by the host and read in place */
		} else if (!text_of(data, &scratch, &p, &n) || !cr_parse(p, n, &ev) || !cr_is(ev, CR_OBJECT)) {
			cr_buf_lit(&errbuf, "\"status\":502,\"type\":\"api_error\",\"code\":\"bad_response\",\"message\":\"format-gemini: stream event is not a JSON object\"");
			r = -1;
			break;
		}
		r = stream_event(&out, &errbuf, ev, f.model, &st);
		if (r < 0) break;
		if (r > 0) done = 1;
	}
	cr_buf_char(&out, ']');
	save_state(&out, &st);
	if (r < 0) {
		cr_buf_lit(&out, ",\"error\":{");
		cr_buf_raw(&out, errbuf.p, errbuf.n);
		cr_buf_char(&out, '}');
	}
	cr_buf_lit(&out, ",\"done\":");
	cr_buf_bool(&out, done);
	cr_buf_char(&out, '}');
	cr_buf_free(&errbuf);
	cr_buf_free(&scratch);
	return cr_buf_result(&out);
}
