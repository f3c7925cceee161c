//go:build ignore

/* The constraint above keeps the go command from treating this folder's C file as cgo source:
 * the folder is also the Go package that tests the built plugin. clang reads it as a comment. */
/*
 * format-anthropic: the Anthropic Messages API as a Crossroads format plugin (sdk/ABI.md §5,
 * hook_format_*). It turns OpenAI chat-completions requests into POST /messages requests and
 * Anthropic responses, SSE streams and errors back into OpenAI shapes.
 *
 * Everything works on slices of the input (crossroads.h's zero-copy reader): JSON strings that
 * pass from one format to the other unchanged are copied as raw escaped bytes, so most text is
 * never decoded. Only values whose meaning depends on their decoded form (data: URLs, tool-call
 * arguments, SSE data, the stream state) are decoded.
 */
#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"format-anthropic\",\"version\":\"1.0.0\","
               "\"description\":\"OpenAI chat completions <-> Anthropic Messages API\","
               "\"hooks\":[\"hook_format_request\",\"hook_format_response\","
               "\"hook_format_stream\",\"hook_format_error\"]}")

#define DEFAULT_MAX_TOKENS 4096
#define MIN_THINKING_BUDGET 1024

static const cr_json ABSENT = {NULL, 0};

/* ------------------------------------------------------------------ errors */

static uint64_t bad_request(const char *code, const char *msg) {
	return cr_error_full(400, "invalid_request_error", code, msg, strlen(msg));
}

/* How one Anthropic error type reads to an OpenAI client. */
typedef struct {
	const char *anthropic;
	int status;
	const char *type, *code;
} error_kind;

static const error_kind error_kinds[] = {
    {"invalid_request_error", 400, "invalid_request_error", "invalid_request_error"},
    {"authentication_error", 401, "authentication_error", "invalid_api_key"},
    {"billing_error", 402, "billing_error", "billing_error"},
    {"permission_error", 403, "permission_error", "permission_denied"},
    {"not_found_error", 404, "not_found_error", "not_found"},
    {"request_too_large", 413, "invalid_request_error", "request_too_large"},
    {"rate_limit_error", 429, "rate_limit_error", "rate_limit_exceeded"},
    {"api_error", 500, "server_error", "api_error"},
    {"overloaded_error", 503, "overloaded", "overloaded"},
    {"timeout_error", 504, "timeout", "timeout"},
};

static const error_kind *error_kind_of(cr_json type) {
	size_t i;
	for (i = 0; i < sizeof error_kinds / sizeof error_kinds[0]; i++)
		if (cr_str_eq(type, error_kinds[i].anthropic)) return &error_kinds[i];
	return NULL;
}

/* When the body names no known error type, the upstream status decides. 529 is Anthropic's
 * "overloaded", which OpenAI clients know as 503. */
static const error_kind *error_kind_of_status(int64_t status) {
	size_t i;
	if (status == 529) status = 503;
	for (i = 0; i < sizeof error_kinds / sizeof error_kinds[0]; i++)
		if (error_kinds[i].status == status) return &error_kinds[i];
	return NULL;
}

/* The {"type":"error","error":{"type":..,"message":..}} envelope; either part may be absent. */
static void error_fields(cr_json body, cr_json *type, cr_json *message) {
	cr_json e = cr_obj_get(body, "error");
	*type = cr_obj_get(e, "type");
	*message = cr_obj_get(e, "message");
	if (!cr_is(*type, CR_STRING)) *type = ABSENT;
	if (!cr_is(*message, CR_STRING)) *message = ABSENT;
}

/* ------------------------------------------------------------------ hook_format_request */

enum { ROLE_NONE = 0, ROLE_USER, ROLE_ASSISTANT };

/* Anthropic requires user and assistant turns to alternate, so messages of one role that
 * follow each other (tool results, then the user's next words) are merged into one turn. A
 * turn is opened only when its first block is written, so messages that contribute no blocks
 * never leave an empty turn behind. */
typedef struct {
	cr_buf *b;
	int open;  /* role of the turn being written, ROLE_NONE before the first */
	int want;  /* role of the message being converted */
	int turns; /* number of turns written */
} turns;

static void block_begin(turns *t) {
	if (t->open != t->want) {
		if (t->open) cr_buf_lit(t->b, "]}");
		cr_buf_sep(t->b);
		if (t->want == ROLE_USER) cr_buf_lit(t->b, "{\"role\":\"user\",\"content\":[");
		else cr_buf_lit(t->b, "{\"role\":\"assistant\",\"content\":[");
		t->open = t->want;
		t->turns++;
	}
	cr_buf_sep(t->b);
}

/* Tool ids must match ^[a-zA-Z0-9_-]+$ at Anthropic. Ids minted by other providers can hold
 * other bytes, so each is mapped the same way wherever it appears (tool_use and tool_result
 * stay paired). */
static void write_tool_id(cr_buf *b, cr_json id) {
	cr_json r = cr_str_raw(id);
	size_t i;
	cr_buf_char(b, '"');
	if (!r.n) cr_buf_lit(b, "toolu_empty");
	for (i = 0; i < r.n; i++) {
		char c = r.p[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
		cr_buf_char(b, ok ? c : '_');
	}
	cr_buf_char(b, '"');
}

static int starts_with(const char *p, size_t n, const char *lit) {
	size_t k = strlen(lit);
	return n >= k && memcmp(p, lit, k) == 0;
}

/* A data: or http(s) URL as an Anthropic source object: {"type":"base64","media_type":..,
 * "data":..} or {"type":"url","url":..}. kind names the content for error messages. */
static const char *write_source(cr_buf *b, cr_json url, int allow_url) {
	char *u;
	long n;
	const char *err = NULL;
	if (!cr_is(url, CR_STRING)) return "url must be a string";
	u = (char *)malloc(url.n ? url.n : 1);
	if (!u) return "out of memory";
	n = cr_str_decode(url, u, url.n);
	if (n < 0) {
		err = "url is not a valid string";
	} else if (starts_with(u, (size_t)n, "data:")) {
		const char *comma = memchr(u, ',', (size_t)n);
		const char *semi;
		if (!comma) {
			err = "data: URL has no comma";
		} else if ((size_t)(comma - u) < 12 || !(semi = comma - 7, memcmp(semi, ";base64", 7) == 0)) {
			err = "data: URL must be base64-encoded (data:<media type>;base64,...)";
		} else {
			cr_buf_lit(b, "{\"type\":\"base64\",\"media_type\":");
			cr_buf_str(b, u + 5, (size_t)(semi - (u + 5)));
			cr_buf_lit(b, ",\"data\":");
			cr_buf_str(b, comma + 1, (size_t)(u + n - (comma + 1)));
			cr_buf_char(b, '}');
		}
	} else if (allow_url && (starts_with(u, (size_t)n, "https://") || starts_with(u, (size_t)n, "http://"))) {
		cr_buf_lit(b, "{\"type\":\"url\",\"url\":");
		cr_buf_json_str(b, url);
		cr_buf_char(b, '}');
	} else {
		err = "url must be a data: URL or an http(s) URL";
	}
	free(u);
	return err;
}

/* One OpenAI content part as one Anthropic block. Returns NULL or an error message. */
static const char *const part_fields[] = {"type", "text", "cache_control", "image_url", "file", "refusal"};
enum { P_TYPE, P_TEXT, P_CACHE, P_IMAGE_URL, P_FILE, P_REFUSAL, P_N };

static const char *write_part(turns *t, cr_json part, int role_assistant) {
	cr_json f[P_N], type, cache;
	if (!cr_is(part, CR_OBJECT)) return "content parts must be objects";
	cr_obj_fields(part, part_fields, P_N, f);
	type = f[P_TYPE];
	cache = f[P_CACHE];
	if (cr_str_eq(type, "text") || (role_assistant && cr_str_eq(type, "refusal"))) {
		cr_json text = cr_str_eq(type, "text") ? f[P_TEXT] : f[P_REFUSAL];
		if (!cr_is(text, CR_STRING)) return "text part without a string text";
		if (text.n <= 2) return NULL; /* Anthropic refuses empty text blocks */
		block_begin(t);
		cr_buf_lit(t->b, "{\"type\":\"text\",\"text\":");
		cr_buf_json(t->b, text);
	} else if (!role_assistant && cr_str_eq(type, "image_url")) {
		cr_json iu = f[P_IMAGE_URL];
		cr_json url = cr_is(iu, CR_OBJECT) ? cr_obj_get(iu, "url") : iu;
		const char *err;
		block_begin(t);
		cr_buf_lit(t->b, "{\"type\":\"image\",\"source\":");
		if ((err = write_source(t->b, url, 1))) return err;
	} else if (!role_assistant && cr_str_eq(type, "file")) {
		cr_json file = f[P_FILE];
		cr_json data = cr_obj_get(file, "file_data");
		const char *err;
		if (!cr_present(data)) return "file parts need file_data (a data: URL); file_id is not supported by Anthropic";
		block_begin(t);
		cr_buf_lit(t->b, "{\"type\":\"document\",\"source\":");
		if ((err = write_source(t->b, data, 0))) return err;
	} else if (cr_str_eq(type, "input_audio")) {
		return "audio input is not supported by Anthropic";
	} else {
		return "unsupported content part type";
	}
	if (cr_is(cache, CR_OBJECT)) { /* prompt caching hints pass through as Anthropic spells them */
		cr_buf_key(t->b, "cache_control");
		cr_buf_json(t->b, cache);
	}
	cr_buf_char(t->b, '}');
	return NULL;
}

/* A message's content (string, parts array or null) as blocks of the current turn. */
static const char *write_content(turns *t, cr_json content, int role_assistant) {
	cr_iter it;
	cr_json part;
	const char *err;
	switch (cr_typeof(content)) {
	case CR_NONE: case CR_NULL: return NULL;
	case CR_STRING:
		if (content.n <= 2) return NULL;
		block_begin(t);
		cr_buf_lit(t->b, "{\"type\":\"text\",\"text\":");
		cr_buf_json(t->b, content);
		cr_buf_char(t->b, '}');
		return NULL;
	case CR_ARRAY:
		cr_arr_iter(content, &it);
		while (cr_arr_next(&it, &part))
			if ((err = write_part(t, part, role_assistant))) return err;
		return NULL;
	default: return "content must be a string, an array of parts or null";
	}
}

/* System and developer messages become text blocks of the top-level system array. */
static const char *write_system(cr_buf *sys, cr_json content) {
	cr_iter it;
	cr_json part, text;
	if (cr_is(content, CR_STRING)) {
		if (content.n > 2) {
			cr_buf_sep(sys);
			cr_buf_lit(sys, "{\"type\":\"text\",\"text\":");
			cr_buf_json(sys, content);
			cr_buf_char(sys, '}');
		}
		return NULL;
	}
	if (!cr_arr_iter(content, &it)) return cr_present(content) && !cr_is_null(content) ? "system content must be a string or an array of text parts" : NULL;
	while (cr_arr_next(&it, &part)) {
		cr_json cache = cr_obj_get(part, "cache_control");
		if (!cr_str_eq(cr_obj_get(part, "type"), "text") || !cr_is(text = cr_obj_get(part, "text"), CR_STRING))
			return "system content parts must be text";
		if (text.n <= 2) continue;
		cr_buf_sep(sys);
		cr_buf_lit(sys, "{\"type\":\"text\",\"text\":");
		cr_buf_json(sys, text);
		if (cr_is(cache, CR_OBJECT)) {
			cr_buf_key(sys, "cache_control");
			cr_buf_json(sys, cache);
		}
		cr_buf_char(sys, '}');
	}
	return NULL;
}

/* Assistant tool_calls as tool_use blocks. arguments is JSON text inside a JSON string; it is
 * decoded and checked, since Anthropic takes the input as an object. */
static const char *write_tool_calls(turns *t, cr_json calls) {
	cr_iter it;
	cr_json call, fn, args, input;
	char *tmp;
	long n;
	if (!cr_present(calls) || cr_is_null(calls)) return NULL;
	if (!cr_arr_iter(calls, &it)) return "tool_calls must be an array";
	while (cr_arr_next(&it, &call)) {
		static const char *const call_fields[] = {"id", "type", "function"};
		static const char *const fn_fields[] = {"name", "arguments"};
		cr_json cf[3], ff[2];
		cr_obj_fields(call, call_fields, 3, cf);
		if (cr_present(cf[1]) && !cr_str_eq(cf[1], "function")) return "only function tool calls are supported";
		fn = cf[2];
		cr_obj_fields(fn, fn_fields, 2, ff);
		if (!cr_is(ff[0], CR_STRING)) return "tool call without a function name";
		args = ff[1];
		block_begin(t);
		cr_buf_lit(t->b, "{\"type\":\"tool_use\",\"id\":");
		write_tool_id(t->b, cf[0]);
		cr_buf_lit(t->b, ",\"name\":");
		cr_buf_json(t->b, ff[0]);
		cr_buf_lit(t->b, ",\"input\":");
		if (cr_is(args, CR_OBJECT)) { /* some clients send the object itself */
			cr_buf_json(t->b, args);
		} else if (cr_is(args, CR_STRING)) {
			if (!(tmp = (char *)malloc(args.n))) return "out of memory";
			n = cr_str_decode(args, tmp, args.n);
			if (n >= 0 && cr_blank(tmp, (size_t)n)) {
				cr_buf_lit(t->b, "{}"); /* "" means no arguments */
			} else if (n < 0 || !cr_parse(tmp, (size_t)n, &input) || !cr_is(input, CR_OBJECT)) {
				free(tmp);
				return "tool call arguments are not a JSON object";
			} else {
				cr_buf_json(t->b, input);
			}
			free(tmp);
		} else if (!cr_present(args) || cr_is_null(args)) {
			cr_buf_lit(t->b, "{}");
		} else {
			return "tool call arguments must be a JSON string";
		}
		cr_buf_char(t->b, '}');
	}
	return it.err ? "tool_calls is malformed" : NULL;
}

/* A role "tool" message as a tool_result block of a user turn. */
static const char *write_tool_result(turns *t, cr_json id, cr_json content) {
	cr_iter it;
	cr_json part;
	if (!cr_is(id, CR_STRING)) return "tool message without tool_call_id";
	block_begin(t);
	cr_buf_lit(t->b, "{\"type\":\"tool_result\",\"tool_use_id\":");
	write_tool_id(t->b, id);
	if (cr_is(content, CR_STRING)) {
		cr_buf_lit(t->b, ",\"content\":");
		cr_buf_json(t->b, content);
	} else if (cr_arr_iter(content, &it)) {
		/* parts become the result's own blocks: a nested turn writer over the same buffer */
		turns inner = {t->b, ROLE_USER, ROLE_USER, 0};
		const char *err;
		cr_buf_lit(t->b, ",\"content\":[");
		while (cr_arr_next(&it, &part))
			if ((err = write_part(&inner, part, 0))) return err;
		cr_buf_char(t->b, ']');
	} else if (cr_present(content) && !cr_is_null(content)) {
		return "tool message content must be a string or an array of parts";
	}
	cr_buf_char(t->b, '}');
	return NULL;
}

/* The request fields this plugin reads; everything else is ignored (the host already
 * removed what the endpoint does not support). */
typedef struct {
	cr_json model, messages, tools, tool_choice, max_tokens, max_completion_tokens, temperature, top_p,
	    stop, stream, user, parallel_tool_calls, reasoning_effort, n, logprobs, response_format,
	    modalities, top_k;
} req_fields;

static void read_request(cr_json req, req_fields *r) {
	cr_iter it;
	cr_json k, v;
	memset(r, 0, sizeof *r);
	cr_obj_iter(req, &it);
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_is_null(v)) continue; /* null means "not set" for every OpenAI parameter */
		switch (cr_str_first(k)) {
		case 'm':
			if (cr_str_eq(k, "messages")) r->messages = v;
			else if (cr_str_eq(k, "model")) r->model = v;
			else if (cr_str_eq(k, "max_tokens")) r->max_tokens = v;
			else if (cr_str_eq(k, "max_completion_tokens")) r->max_completion_tokens = v;
			else if (cr_str_eq(k, "modalities")) r->modalities = v;
			break;
		case 't':
			if (cr_str_eq(k, "tools")) r->tools = v;
			else if (cr_str_eq(k, "tool_choice")) r->tool_choice = v;
			else if (cr_str_eq(k, "temperature")) r->temperature = v;
			else if (cr_str_eq(k, "top_p")) r->top_p = v;
			else if (cr_str_eq(k, "top_k")) r->top_k = v;
			break;
		case 's':
			if (cr_str_eq(k, "stop")) r->stop = v;
			else if (cr_str_eq(k, "stream")) r->stream = v;
			break;
		case 'u': if (cr_str_eq(k, "user")) r->user = v; break;
		case 'p': if (cr_str_eq(k, "parallel_tool_calls")) r->parallel_tool_calls = v; break;
		case 'r':
			if (cr_str_eq(k, "reasoning_effort")) r->reasoning_effort = v;
			else if (cr_str_eq(k, "response_format")) r->response_format = v;
			break;
		case 'n': if (cr_str_eq(k, "n")) r->n = v; break;
		case 'l': if (cr_str_eq(k, "logprobs")) r->logprobs = v; break;
		}
	}
}

/* The unsupported parameters that would change what the client gets back are refused rather
 * than dropped, so the router can try an endpoint that has them. */
static const char *check_unsupported(const req_fields *r) {
	int64_t n;
	int b;
	cr_iter it;
	cr_json m;
	if (cr_present(r->n) && (!cr_i64(r->n, &n) || n != 1)) return "n other than 1 is not supported by Anthropic";
	if (cr_bool(r->logprobs, &b) && b) return "logprobs are not supported by Anthropic";
	if (cr_present(r->response_format)) {
		cr_json t = cr_obj_get(r->response_format, "type");
		if (!cr_str_eq(t, "text")) return "response_format json_object/json_schema is not supported by this Anthropic adapter";
	}
	cr_arr_iter(r->modalities, &it);
	while (cr_arr_next(&it, &m))
		if (!cr_str_eq(m, "text")) return "only the text modality is supported by Anthropic";
	return NULL;
}

static const char *write_stop(cr_buf *b, cr_json stop) {
	cr_iter it;
	cr_json s;
	if (cr_is(stop, CR_STRING)) {
		if (stop.n <= 2) return NULL;
		cr_buf_key(b, "stop_sequences");
		cr_buf_char(b, '[');
		cr_buf_json(b, stop);
		cr_buf_char(b, ']');
		return NULL;
	}
	if (!cr_arr_iter(stop, &it)) return cr_present(stop) ? "stop must be a string or an array of strings" : NULL;
	if (it.p == it.end) return NULL; /* [] */
	cr_buf_key(b, "stop_sequences");
	cr_buf_char(b, '[');
	while (cr_arr_next(&it, &s)) {
		if (!cr_is(s, CR_STRING)) return "stop must be a string or an array of strings";
		cr_buf_sep(b);
		cr_buf_json(b, s);
	}
	cr_buf_char(b, ']');
	return NULL;
}

/* Writes "tools" and "tool_choice"; returns an error message or NULL. */
static const char *write_tools(cr_buf *b, const req_fields *r) {
	cr_iter it;
	cr_json tool, fn, name, desc, params;
	int ntools = 0, parallel = 1;
	cr_json tc = r->tool_choice;
	if (cr_present(r->tools)) {
		if (!cr_arr_iter(r->tools, &it)) return "tools must be an array";
		while (cr_arr_next(&it, &tool)) {
			static const char *const tool_fields[] = {"type", "function"};
			static const char *const fn_fields[] = {"name", "description", "parameters"};
			cr_json tf[2], ff[3];
			cr_obj_fields(tool, tool_fields, 2, tf);
			if (!cr_str_eq(tf[0], "function")) return "only function tools are supported by Anthropic";
			fn = tf[1];
			cr_obj_fields(fn, fn_fields, 3, ff);
			name = ff[0];
			if (!cr_is(name, CR_STRING)) return "a tool has no function name";
			desc = ff[1];
			params = ff[2];
			if (!ntools++) {
				cr_buf_key(b, "tools");
				cr_buf_char(b, '[');
			}
			cr_buf_sep(b);
			cr_buf_lit(b, "{\"name\":");
			cr_buf_json(b, name);
			if (cr_is(desc, CR_STRING)) {
				cr_buf_lit(b, ",\"description\":");
				cr_buf_json(b, desc);
			}
			cr_buf_lit(b, ",\"input_schema\":");
			if (cr_is(params, CR_OBJECT)) cr_buf_json(b, params);
			else cr_buf_lit(b, "{\"type\":\"object\",\"properties\":{}}");
			cr_buf_char(b, '}');
		}
		if (it.err) return "tools is malformed";
		if (ntools) cr_buf_char(b, ']');
	}
	cr_bool(r->parallel_tool_calls, &parallel);
	/* Anthropic refuses tool_choice without tools; with none there is nothing to choose. */
	if (!ntools) return NULL;
	if (!cr_present(tc) && parallel) return NULL;
	cr_buf_key(b, "tool_choice");
	if (!cr_present(tc) || cr_str_eq(tc, "auto")) {
		cr_buf_lit(b, "{\"type\":\"auto\"");
	} else if (cr_str_eq(tc, "none")) {
		cr_buf_lit(b, "{\"type\":\"none\"}");
		return NULL; /* disable_parallel_tool_use is not allowed with none */
	} else if (cr_str_eq(tc, "required")) {
		cr_buf_lit(b, "{\"type\":\"any\"");
	} else if (cr_is(tc, CR_OBJECT) && cr_str_eq(cr_obj_get(tc, "type"), "function")) {
		name = cr_obj_get(cr_obj_get(tc, "function"), "name");
		if (!cr_is(name, CR_STRING)) return "tool_choice function has no name";
		cr_buf_lit(b, "{\"type\":\"tool\",\"name\":");
		cr_buf_json(b, name);
	} else {
		return "unsupported tool_choice";
	}
	if (!parallel) cr_buf_lit(b, ",\"disable_parallel_tool_use\":true");
	cr_buf_char(b, '}');
	return NULL;
}

/* reasoning_effort as an extended-thinking budget. Anthropic counts thinking inside
 * max_tokens, as OpenAI counts reasoning inside max_completion_tokens, so an explicit limit
 * caps the budget; without one the default output allowance is added on top. */
static const char *thinking_budget(const req_fields *r, int64_t *max_tokens, int explicit_max, int64_t *budget) {
	cr_json e = r->reasoning_effort;
	*budget = 0;
	if (!cr_present(e) || cr_str_eq(e, "none") || cr_str_eq(e, "minimal")) return NULL;
	if (cr_str_eq(e, "low")) *budget = 1024;
	else if (cr_str_eq(e, "medium")) *budget = 4096;
	else if (cr_str_eq(e, "high")) *budget = 16384;
	else return "reasoning_effort must be none, minimal, low, medium or high";
	if (!explicit_max) *max_tokens = DEFAULT_MAX_TOKENS + *budget;
	else if (*budget >= *max_tokens) *budget = *max_tokens - 1;
	if (*budget < MIN_THINKING_BUDGET) return "reasoning_effort needs max_completion_tokens above 1024 with Anthropic";
	return NULL;
}

CR_EXPORT("hook_format_request") uint64_t hook_format_request(uint32_t ptr, uint32_t len) {
	cr_json in, msg, role, model;
	cr_hook_input f;
	req_fields r;
	cr_iter it;
	cr_buf b, sys;
	turns t;
	int64_t max_tokens = DEFAULT_MAX_TOKENS, budget = 0;
	int explicit_max = 0, stream = 0;
	const char *err = NULL;
	double d;

	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f) || !cr_is(f.request, CR_OBJECT))
		return bad_request("bad_input", "format-anthropic: input is not a format request payload");
	read_request(f.request, &r);
	model = cr_is(f.model, CR_STRING) ? f.model : r.model;
	if (!cr_is(model, CR_STRING)) return bad_request("missing_model", "format-anthropic: no model");
	if (!cr_is(r.messages, CR_ARRAY)) return bad_request("missing_messages", "format-anthropic: messages must be an array");
	if ((err = check_unsupported(&r))) return bad_request("unsupported_parameter", err);
	if (cr_present(r.max_completion_tokens) || cr_present(r.max_tokens)) {
		if (!cr_i64(cr_present(r.max_completion_tokens) ? r.max_completion_tokens : r.max_tokens, &max_tokens) || max_tokens < 1)
			return bad_request("invalid_max_tokens", "format-anthropic: max_tokens must be a positive integer");
		explicit_max = 1;
	}
	if ((err = thinking_budget(&r, &max_tokens, explicit_max, &budget))) return bad_request("unsupported_parameter", err);
	if (budget) {
		/* Anthropic allows only temperature 1 and top_p >= 0.95 with thinking. */
		if (cr_f64(r.temperature, &d) && d != 1) return bad_request("unsupported_parameter", "temperature must be 1 (or unset) with reasoning_effort on Anthropic");
		if (cr_f64(r.top_p, &d) && d < 0.95) return bad_request("unsupported_parameter", "top_p must be at least 0.95 with reasoning_effort on Anthropic");
	}
	stream = f.stream;
	if (!stream) cr_bool(r.stream, &stream);

	cr_buf_init(&b, 512 + len + len / 8);
	cr_buf_init(&sys, 256);
	cr_buf_lit(&b, "{\"method\":\"POST\",\"path\":\"/messages\",\"headers\":{\"anthropic-version\":\"2023-06-01\","
	               "\"x-api-key\":\"{{api_key}}\"},\"body\":{\"model\":");
	cr_buf_json(&b, model);
	cr_buf_lit(&b, ",\"messages\":[");
	t.b = &b;
	t.open = t.want = ROLE_NONE;
	t.turns = 0;
	cr_arr_iter(r.messages, &it);
	while (!err && cr_arr_next(&it, &msg)) {
		static const char *const msg_fields[] = {"role", "content", "tool_calls", "tool_call_id"};
		cr_json mf[4];
		cr_obj_fields(msg, msg_fields, 4, mf);
		role = mf[0];
		if (!cr_is(msg, CR_OBJECT)) err = "messages must be objects";
		else if (cr_str_eq(role, "user")) {
			t.want = ROLE_USER;
			err = write_content(&t, mf[1], 0);
		} else if (cr_str_eq(role, "assistant")) {
			t.want = ROLE_ASSISTANT;
			if (!(err = write_content(&t, mf[1], 1))) err = write_tool_calls(&t, mf[2]);
		} else if (cr_str_eq(role, "tool")) {
			t.want = ROLE_USER;
			err = write_tool_result(&t, mf[3], mf[1]);
		} else if (cr_str_eq(role, "system") || cr_str_eq(role, "developer")) {
			err = write_system(&sys, mf[1]);
		} else if (cr_str_eq(role, "function")) {
			err = "the deprecated function role is not supported; use tool messages";
		} else {
			err = "unknown message role";
		}
	}
	if (!err && it.err) err = "messages is malformed";
	if (!err && !t.turns) err = "no user or assistant message with content";
	if (err) {
		cr_buf_free(&b);
		cr_buf_free(&sys);
		return bad_request("unsupported_message", err);
	}
	cr_buf_lit(&b, "]}]");
	if (sys.n) {
		cr_buf_lit(&b, ",\"system\":[");
		cr_buf_raw(&b, sys.p, sys.n);
		cr_buf_char(&b, ']');
	}
	cr_buf_free(&sys);
	cr_buf_key(&b, "max_tokens");
	cr_buf_i64(&b, max_tokens);
	if (budget) {
		cr_buf_lit(&b, ",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":");
		cr_buf_i64(&b, budget);
		cr_buf_char(&b, '}');
	}
	if (cr_is(r.temperature, CR_NUMBER)) {
		cr_buf_key(&b, "temperature");
		cr_buf_json(&b, r.temperature);
	}
	if (cr_is(r.top_p, CR_NUMBER)) {
		cr_buf_key(&b, "top_p");
		cr_buf_json(&b, r.top_p);
	}
	if (cr_is(r.top_k, CR_NUMBER)) {
		cr_buf_key(&b, "top_k");
		cr_buf_json(&b, r.top_k);
	}
	if (!(err = write_stop(&b, r.stop))) err = write_tools(&b, &r);
	if (err) {
		cr_buf_free(&b);
		return bad_request("unsupported_parameter", err);
	}
	if (stream) cr_buf_lit(&b, ",\"stream\":true");
	if (cr_is(r.user, CR_STRING)) {
		cr_buf_lit(&b, ",\"metadata\":{\"user_id\":");
		cr_buf_json(&b, r.user);
		cr_buf_char(&b, '}');
	}
	cr_buf_lit(&b, "}}");
	return cr_buf_result(&b);
}

/* ------------------------------------------------------------------ shared: finish reasons and usage */

static const char *finish_reason(cr_json stop_reason) {
	if (cr_str_eq(stop_reason, "end_turn") || cr_str_eq(stop_reason, "stop_sequence") || cr_str_eq(stop_reason, "pause_turn"))
		return "\"stop\"";
	if (cr_str_eq(stop_reason, "max_tokens") || cr_str_eq(stop_reason, "model_context_window_exceeded")) return "\"length\"";
	if (cr_str_eq(stop_reason, "tool_use")) return "\"tool_calls\"";
	if (cr_str_eq(stop_reason, "refusal")) return "\"content_filter\"";
	if (cr_is(stop_reason, CR_STRING)) return "\"stop\"";
	return "null";
}

typedef struct {
	int64_t input, cache_read, cache_creation, output;
	int seen;
} usage;

static void read_usage(cr_json u, usage *x) {
	cr_iter it;
	cr_json k, v;
	if (!cr_obj_iter(u, &it)) return;
	x->seen = 1;
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_str_eq(k, "input_tokens")) cr_i64(v, &x->input);
		else if (cr_str_eq(k, "output_tokens")) cr_i64(v, &x->output);
		else if (cr_str_eq(k, "cache_read_input_tokens")) cr_i64(v, &x->cache_read);
		else if (cr_str_eq(k, "cache_creation_input_tokens")) cr_i64(v, &x->cache_creation);
	}
}

/* Anthropic's input_tokens excludes cached tokens; OpenAI's prompt_tokens includes them. */
static void write_usage(cr_buf *b, const usage *x) {
	int64_t prompt = x->input + x->cache_read + x->cache_creation;
	cr_buf_lit(b, "\"usage\":{\"prompt_tokens\":");
	cr_buf_i64(b, prompt);
	cr_buf_lit(b, ",\"completion_tokens\":");
	cr_buf_i64(b, x->output);
	cr_buf_lit(b, ",\"total_tokens\":");
	cr_buf_i64(b, prompt + x->output);
	cr_buf_lit(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
	cr_buf_i64(b, x->cache_read);
	cr_buf_lit(b, "}}");
}

/* ------------------------------------------------------------------ hook_format_response */

/* An in-band error ({"type":"error",...} with a 2xx status) as the §6 error object. */
static uint64_t inband_error(cr_json body, int64_t status) {
	cr_json type, message;
	const error_kind *k;
	char *msg = NULL;
	long n = -1;
	uint64_t r;
	error_fields(body, &type, &message);
	k = error_kind_of(type);
	if (!k) k = error_kind_of_status(status >= 400 ? status : 502);
	if (cr_present(message) && (msg = (char *)malloc(message.n))) n = cr_str_decode(message, msg, message.n);
	if (n < 0) r = cr_error_full(k ? k->status : 502, k ? k->type : "upstream_error", k ? k->code : "upstream_error",
	                             "Anthropic returned an error", 27);
	else r = cr_error_full(k ? k->status : 502, k ? k->type : "upstream_error", k ? k->code : "upstream_error", msg, (size_t)n);
	free(msg);
	return r;
}

CR_EXPORT("hook_format_response") uint64_t hook_format_response(uint32_t ptr, uint32_t len) {
	cr_json in, body, k, v, id = ABSENT, model = ABSENT, content = ABSENT, stop = ABSENT, type = ABSENT, blk;
	cr_hook_input f;
	cr_iter it;
	cr_buf b, think, tools;
	usage u = {0, 0, 0, 0, 0};
	int ntext = 0, nthink = 0, ntools = 0;

	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f))
		return cr_error_status(502, "bad_input", "format-anthropic: input is not a format response payload");
	body = f.body;
	if (!cr_obj_iter(body, &it))
		return cr_error_full(502, "upstream_error", "bad_response", "Anthropic response body is not a JSON object", 45);
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_str_eq(k, "id")) id = v;
		else if (cr_str_eq(k, "model")) model = v;
		else if (cr_str_eq(k, "content")) content = v;
		else if (cr_str_eq(k, "stop_reason")) stop = v;
		else if (cr_str_eq(k, "usage")) read_usage(v, &u);
		else if (cr_str_eq(k, "type")) type = v;
	}
	if (cr_str_eq(type, "error")) return inband_error(body, f.status);
	if (!cr_is(content, CR_ARRAY))
		return cr_error_full(502, "upstream_error", "bad_response", "Anthropic response has no content array", 39);
	if (!cr_is(model, CR_STRING)) model = f.model;

	/* One pass over the blocks: text goes straight into the message, thinking and tool calls
	 * into side buffers appended after it. Text is concatenated by joining the escaped forms:
	 * escaping commutes with concatenation, so nothing is decoded. */
	cr_buf_init(&b, 256 + body.n);
	cr_buf_init(&think, 64);
	cr_buf_init(&tools, 64);
	cr_buf_lit(&b, "{\"id\":");
	cr_buf_json_str(&b, id);
	cr_buf_lit(&b, ",\"object\":\"chat.completion\",\"created\":0,\"model\":");
	cr_buf_json_str(&b, model);
	cr_buf_lit(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
	cr_arr_iter(content, &it);
	while (cr_arr_next(&it, &blk)) {
		static const char *const block_fields[] = {"type", "text", "thinking", "id", "name", "input"};
		cr_json bf[6];
		cr_obj_fields(blk, block_fields, 6, bf);
		if (cr_str_eq(bf[0], "text")) {
			cr_json text = cr_str_raw(bf[1]);
			if (!ntext++) cr_buf_char(&b, '"');
			cr_buf_raw(&b, text.p, text.n);
		} else if (cr_str_eq(bf[0], "thinking")) {
			cr_json text = cr_str_raw(bf[2]);
			nthink++;
			cr_buf_raw(&think, text.p, text.n);
		} else if (cr_str_eq(bf[0], "tool_use")) {
			if (ntools++) cr_buf_char(&tools, ',');
			cr_buf_lit(&tools, "{\"id\":");
			cr_buf_json_str(&tools, bf[3]);
			cr_buf_lit(&tools, ",\"type\":\"function\",\"function\":{\"name\":");
			cr_buf_json_str(&tools, bf[4]);
			cr_buf_lit(&tools, ",\"arguments\":");
			if (cr_present(bf[5])) cr_buf_str_of_json(&tools, bf[5]);
			else cr_buf_lit(&tools, "\"{}\"");
			cr_buf_lit(&tools, "}}");
		}
	}
	/* OpenAI sends null content for a message of tool calls only, "" for an empty one */
	if (ntext) cr_buf_char(&b, '"');
	else if (ntools) cr_buf_lit(&b, "null");
	else cr_buf_lit(&b, "\"\"");
	if (nthink) {
		cr_buf_lit(&b, ",\"reasoning\":\"");
		cr_buf_raw(&b, think.p, think.n);
		cr_buf_char(&b, '"');
	}
	if (ntools) {
		cr_buf_lit(&b, ",\"tool_calls\":[");
		cr_buf_raw(&b, tools.p, tools.n);
		cr_buf_char(&b, ']');
	}
	if (think.oom || tools.oom) b.oom = 1;
	cr_buf_free(&think);
	cr_buf_free(&tools);
	cr_buf_lit(&b, "},\"finish_reason\":");
	cr_buf_cstr_raw(&b, finish_reason(stop));
	cr_buf_lit(&b, "}]");
	if (u.seen) {
		cr_buf_char(&b, ',');
		write_usage(&b, &u);
	}
	cr_buf_char(&b, '}');
	return cr_buf_result(&b);
}

/* ------------------------------------------------------------------ hook_format_error */

CR_EXPORT("hook_format_error") uint64_t hook_format_error(uint32_t ptr, uint32_t len) {
	cr_json in, type = ABSENT, message = ABSENT;
	cr_hook_input f;
	const error_kind *k;
	cr_buf b;
	int64_t status;

	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f))
		return cr_error_status(502, "bad_input", "format-anthropic: input is not a format error payload");
	if (cr_is(f.body, CR_OBJECT)) error_fields(f.body, &type, &message);
	k = error_kind_of(type);
	if (!k) k = error_kind_of_status(f.status);
	status = k ? k->status : f.status == 529 ? 503 : f.status;

	cr_buf_init(&b, 128 + (message.n < 4096 ? message.n : 4096));
	cr_buf_lit(&b, "{\"status\":");
	cr_buf_i64(&b, status);
	cr_buf_lit(&b, ",\"type\":");
	cr_buf_cstr(&b, k ? k->type : status >= 500 ? "server_error" : "invalid_request_error");
	cr_buf_lit(&b, ",\"code\":");
	if (cr_present(type) && !error_kind_of(type)) cr_buf_json_str(&b, type); /* a type we do not know yet names itself */
	else cr_buf_cstr(&b, k ? k->code : "upstream_error");
	cr_buf_lit(&b, ",\"message\":");
	if (cr_present(message)) {
		cr_buf_json_str(&b, message);
	} else if (cr_is(f.body, CR_STRING) && f.body.n > 2) {
		/* a proxy's HTML or plain text: keep its start, decoded and re-escaped */
		char text[512];
		cr_json head = f.body;
		long n;
		char *tmp = (char *)malloc(f.body.n);
		if (tmp && (n = cr_str_decode(head, tmp, f.body.n)) >= 0) {
			size_t m = (size_t)n < sizeof text ? (size_t)n : sizeof text;
			memcpy(text, tmp, m);
			cr_buf_str(&b, text, m); /* a cut inside a UTF-8 sequence becomes U+FFFD */
		} else {
			cr_buf_lit(&b, "\"\"");
		}
		free(tmp);
	} else {
		cr_buf_lit(&b, "\"Anthropic returned HTTP ");
		cr_buf_i64(&b, f.status);
		cr_buf_char(&b, '"');
	}
	cr_buf_char(&b, '}');
	return cr_buf_result(&b);
}

/* ------------------------------------------------------------------ hook_format_stream */

/* What later events of one stream need from earlier ones. It travels through the host as
 * the state string, a small JSON object: {"id","m" (model),"i","r","c","o" (usage),"n" (tool
 * calls so far),"b":[block index, tool index, ...]}. Only tool_use blocks are mapped, so it
 * stays far under 4 KiB. */
#define MAX_TOOL_BLOCKS 128

typedef struct {
	char *id, *model; /* raw JSON strings (quotes and escapes included), heap copies */
	size_t idn, modeln;
	usage u;
	int64_t ntools;
	int nmap;
	int64_t map[MAX_TOOL_BLOCKS][2];
} stream_state;

static int dup_json_str(cr_json v, char **p, size_t *n) {
	free(*p);
	*p = NULL;
	*n = 0;
	if (!cr_is(v, CR_STRING)) return 1;
	if (!(*p = (char *)malloc(v.n))) return 0;
	memcpy(*p, v.p, v.n);
	*n = v.n;
	return 1;
}

static int state_read(cr_json state, stream_state *s, cr_buf *scratch) {
	cr_json st, k, v, e;
	cr_iter it, ai;
	/* the tool map is used only up to nmap, so it needs no clearing */
	memset(s, 0, offsetof(stream_state, map));
	if (!cr_is(state, CR_STRING)) return !cr_present(state) || cr_is_null(state);
	if (state.n == 2) return 1; /* "" : the first batch */
	scratch->n = 0;
	if (!cr_buf_decoded(scratch, state) || !cr_parse(scratch->p, scratch->n, &st) || !cr_obj_iter(st, &it)) return 0;
	while (cr_obj_next(&it, &k, &v)) {
		switch (cr_str_first(k)) {
		case 'i':
			if (cr_str_eq(k, "id")) { if (!dup_json_str(v, &s->id, &s->idn)) return 0; }
			else if (cr_str_eq(k, "i")) cr_i64(v, &s->u.input);
			break;
		case 'm': if (cr_str_eq(k, "m") && !dup_json_str(v, &s->model, &s->modeln)) return 0; break;
		case 'r': if (cr_str_eq(k, "r")) cr_i64(v, &s->u.cache_read); break;
		case 'c': if (cr_str_eq(k, "c")) cr_i64(v, &s->u.cache_creation); break;
		case 'o': if (cr_str_eq(k, "o")) cr_i64(v, &s->u.output); break;
		case 'n': if (cr_str_eq(k, "n")) cr_i64(v, &s->ntools); break;
		case 'b':
			if (!cr_str_eq(k, "b")) break;
			cr_arr_iter(v, &ai);
			while (s->nmap < MAX_TOOL_BLOCKS && cr_arr_next(&ai, &e) && cr_i64(e, &s->map[s->nmap][0]) &&
			       cr_arr_next(&ai, &e) && cr_i64(e, &s->map[s->nmap][1]))
				s->nmap++;
			break;
		}
	}
	return !it.err;
}

static void state_write(cr_buf *out, const stream_state *s, cr_buf *tmp) {
	int i;
	tmp->n = 0;
	cr_buf_lit(tmp, "{\"id\":");
	if (s->idn) cr_buf_raw(tmp, s->id, s->idn);
	else cr_buf_lit(tmp, "\"\"");
	cr_buf_lit(tmp, ",\"m\":");
	if (s->modeln) cr_buf_raw(tmp, s->model, s->modeln);
	else cr_buf_lit(tmp, "\"\"");
	cr_buf_lit(tmp, ",\"i\":");
	cr_buf_i64(tmp, s->u.input);
	cr_buf_lit(tmp, ",\"r\":");
	cr_buf_i64(tmp, s->u.cache_read);
	cr_buf_lit(tmp, ",\"c\":");
	cr_buf_i64(tmp, s->u.cache_creation);
	cr_buf_lit(tmp, ",\"o\":");
	cr_buf_i64(tmp, s->u.output);
	cr_buf_lit(tmp, ",\"n\":");
	cr_buf_i64(tmp, s->ntools);
	cr_buf_lit(tmp, ",\"b\":[");
	for (i = 0; i < s->nmap; i++) {
		if (i) cr_buf_char(tmp, ',');
		cr_buf_i64(tmp, s->map[i][0]);
		cr_buf_char(tmp, ',');
		cr_buf_i64(tmp, s->map[i][1]);
	}
	cr_buf_lit(tmp, "]}");
	cr_buf_str(out, tmp->p, tmp->n);
}

static void chunk_begin(cr_buf *b, const stream_state *s) {
	cr_buf_sep(b);
	cr_buf_lit(b, "{\"id\":");
	if (s->idn) cr_buf_raw(b, s->id, s->idn);
	else cr_buf_lit(b, "\"\"");
	cr_buf_lit(b, ",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":");
	if (s->modeln) cr_buf_raw(b, s->model, s->modeln);
	else cr_buf_lit(b, "\"\"");
}

static void delta_begin(cr_buf *b, const stream_state *s) {
	chunk_begin(b, s);
	cr_buf_lit(b, ",\"choices\":[{\"index\":0,\"delta\":{");
}

static void delta_end(cr_buf *b, const char *finish) {
	cr_buf_lit(b, "},\"finish_reason\":");
	cr_buf_cstr_raw(b, finish);
	cr_buf_lit(b, "}]}");
}

static int tool_index(const stream_state *s, int64_t block) {
	int i;
	for (i = 0; i < s->nmap; i++)
		if (s->map[i][0] == block) return (int)s->map[i][1];
	return -1;
}

/* Writes the error member for an error event; the stream fails after the chunks before it. */
static void stream_error(cr_buf *err, cr_json data) {
	cr_json type, message;
	int status = 502;
	error_fields(data, &type, &message);
	if (cr_str_eq(type, "overloaded_error")) status = 503;
	else if (cr_str_eq(type, "rate_limit_error")) status = 429;
	else if (cr_str_eq(type, "api_error")) status = 500;
	err->n = 0;
	cr_buf_lit(err, "\"error\":{\"message\":");
	if (cr_present(message)) cr_buf_json(err, message);
	else cr_buf_lit(err, "\"Anthropic stream error\"");
	cr_buf_lit(err, ",\"type\":");
	if (cr_present(type)) cr_buf_json(err, type);
	else cr_buf_lit(err, "\"api_error\"");
	cr_buf_lit(err, ",\"status\":");
	cr_buf_i64(err, status);
	cr_buf_char(err, '}');
}

static const char *const event_fields[] = {"type", "index", "delta", "content_block", "message", "usage"};
enum { E_TYPE, E_INDEX, E_DELTA, E_CONTENT_BLOCK, E_MESSAGE, E_USAGE, E_N };
static const char *const delta_fields[] = {"type", "text", "partial_json", "thinking", "stop_reason"};
enum { D_TYPE, D_TEXT, D_PARTIAL_JSON, D_THINKING, D_STOP_REASON, D_N };
static const char *const block_fields[] = {"type", "id", "name", "text", "thinking"};
enum { B_TYPE, B_ID, B_NAME, B_TEXT, B_THINKING, B_N };

CR_EXPORT("hook_format_stream") uint64_t hook_format_stream(uint32_t ptr, uint32_t len) {
	cr_json in, name, raw, data, type, k, v, ef[E_N], df[D_N];
	cr_hook_input f;
	cr_iter events, it;
	cr_buf out, scratch, err;
	stream_state s;
	int done = 0;

	if (!cr_input(ptr, len, &in) || !cr_hook_parse(in, &f) || !cr_arr_iter(f.events, &events))
		return cr_error_status(502, "bad_input", "format-anthropic: input is not a format stream payload");
	cr_buf_init(&scratch, 256);
	if (!state_read(f.state, &s, &scratch)) {
		free(s.id);
		free(s.model);
		cr_buf_free(&scratch);
		return cr_error_status(502, "bad_state", "format-anthropic: stream state is corrupt");
	}
	if (!s.modeln) dup_json_str(f.model, &s.model, &s.modeln);
	cr_buf_init(&out, 256 + len + len / 2);
	cr_buf_init(&err, 64);
	err.n = 0;
	cr_buf_lit(&out, "{\"chunks\":[");

	while (!done && cr_event_next(&events, &name, &raw)) {
		scratch.n = 0;
		if (cr_is(raw, CR_OBJECT)) {
			data = raw; /* sent as "json": validated by the host and read in place */
		} else if (!cr_is(raw, CR_STRING) || !cr_buf_decoded(&scratch, raw) || !cr_parse(scratch.p, scratch.n, &data) ||
		           !cr_is(data, CR_OBJECT)) {
			if (cr_str_eq(name, "ping")) continue;
			err.n = 0;
			cr_buf_lit(&err, "\"error\":{\"message\":\"Anthropic sent a stream event whose data is not a JSON object\","
			                 "\"type\":\"bad_response\",\"status\":502}");
			break;
		}
		cr_obj_fields(data, event_fields, E_N, ef);
		type = ef[E_TYPE];
		if (!cr_present(type)) type = name;
		switch (cr_str_first(type)) {
		case 'm':
			if (cr_str_eq(type, "message_start")) {
				cr_obj_iter(ef[E_MESSAGE], &it);
				while (cr_obj_next(&it, &k, &v)) {
					if (cr_str_eq(k, "id")) dup_json_str(v, &s.id, &s.idn);
					else if (cr_str_eq(k, "model") && cr_is(v, CR_STRING)) dup_json_str(v, &s.model, &s.modeln);
					else if (cr_str_eq(k, "usage")) read_usage(v, &s.u);
				}
				delta_begin(&out, &s);
				cr_buf_lit(&out, "\"role\":\"assistant\",\"content\":\"\"");
				delta_end(&out, "null");
			} else if (cr_str_eq(type, "message_delta")) {
				/* usage here is cumulative; newer API versions repeat the input counts too */
				read_usage(ef[E_USAGE], &s.u);
				cr_obj_fields(ef[E_DELTA], delta_fields, D_N, df);
				delta_begin(&out, &s);
				delta_end(&out, finish_reason(df[D_STOP_REASON]));
			} else if (cr_str_eq(type, "message_stop")) {
				chunk_begin(&out, &s);
				cr_buf_lit(&out, ",\"choices\":[],");
				write_usage(&out, &s.u);
				cr_buf_char(&out, '}');
				done = 1;
			}
			break;
		case 'c':
			if (cr_str_eq(type, "content_block_delta")) {
				cr_json dt, text;
				int64_t idx = -1;
				cr_obj_fields(ef[E_DELTA], delta_fields, D_N, df);
				dt = df[D_TYPE];
				if (cr_str_eq(dt, "text_delta")) {
					text = df[D_TEXT];
					if (!cr_is(text, CR_STRING) || text.n <= 2) break;
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"content\":");
					cr_buf_json(&out, text);
					delta_end(&out, "null");
				} else if (cr_str_eq(dt, "input_json_delta")) {
					int ti;
					text = df[D_PARTIAL_JSON];
					cr_i64(ef[E_INDEX], &idx);
					if (!cr_is(text, CR_STRING) || text.n <= 2 || (ti = tool_index(&s, idx)) < 0) break;
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"tool_calls\":[{\"index\":");
					cr_buf_i64(&out, ti);
					cr_buf_lit(&out, ",\"function\":{\"arguments\":");
					cr_buf_json(&out, text);
					cr_buf_lit(&out, "}}]");
					delta_end(&out, "null");
				} else if (cr_str_eq(dt, "thinking_delta")) {
					text = df[D_THINKING];
					if (!cr_is(text, CR_STRING) || text.n <= 2) break;
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"reasoning\":");
					cr_buf_json(&out, text);
					delta_end(&out, "null");
				}
			} else if (cr_str_eq(type, "content_block_start")) {
				cr_json bf[B_N], ct, text;
				int64_t idx = -1;
				cr_obj_fields(ef[E_CONTENT_BLOCK], block_fields, B_N, bf);
				ct = bf[B_TYPE];
				cr_i64(ef[E_INDEX], &idx);
				if (cr_str_eq(ct, "tool_use")) {
					if (s.nmap < MAX_TOOL_BLOCKS) {
						s.map[s.nmap][0] = idx;
						s.map[s.nmap][1] = s.ntools;
						s.nmap++;
					}
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"tool_calls\":[{\"index\":");
					cr_buf_i64(&out, s.ntools++);
					cr_buf_lit(&out, ",\"id\":");
					cr_buf_json_str(&out, bf[B_ID]);
					cr_buf_lit(&out, ",\"type\":\"function\",\"function\":{\"name\":");
					cr_buf_json_str(&out, bf[B_NAME]);
					cr_buf_lit(&out, ",\"arguments\":\"\"}}]");
					delta_end(&out, "null");
				} else if (cr_str_eq(ct, "text") && cr_is(text = bf[B_TEXT], CR_STRING) && text.n > 2) {
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"content\":");
					cr_buf_json(&out, text);
					delta_end(&out, "null");
				} else if (cr_str_eq(ct, "thinking") && cr_is(text = bf[B_THINKING], CR_STRING) && text.n > 2) {
					delta_begin(&out, &s);
					cr_buf_lit(&out, "\"reasoning\":");
					cr_buf_json(&out, text);
					delta_end(&out, "null");
				}
			}
			break;
		case 'e':
			if (cr_str_eq(type, "error")) {
				stream_error(&err, data);
				done = 0;
				goto finish;
			}
			break;
		default: /* ping, content_block_stop and event types added later carry nothing for OpenAI */
			break;
		}
	}
finish:
	cr_buf_lit(&out, "],\"state\":");
	state_write(&out, &s, &scratch);
	if (err.n) {
		cr_buf_char(&out, ',');
		cr_buf_raw(&out, err.p, err.n);
	}
	if (done) cr_buf_lit(&out, ",\"done\":true}");
	else cr_buf_lit(&out, ",\"done\":false}");
	free(s.id);
	free(s.model);
	cr_buf_free(&scratch);
	cr_buf_free(&err);
	return cr_buf_result(&out);
}
