/* A test plugin for the header itself: hook_request re-serialises its input through the reader
 * and the writer (keys and strings decoded and re-escaped, numbers parsed and re-printed), so
 * the Go test can compare the result with encoding/json's reading of the same bytes. Before it
 * reads, it leaves the heap as a long-lived instance's may be: full of what looks like the end
 * index of the parse about to run. */
#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"roundtrip\",\"version\":\"0.0.0\",\"hooks\":[\"hook_request\"]}")

static int copy_value(cr_buf *b, cr_json v, char *tmp) {
	cr_iter it;
	cr_json k, e;
	int64_t i;
	double d;
	long n;
	switch (cr_typeof(v)) {
	case CR_OBJECT:
		cr_buf_char(b, '{');
		cr_obj_iter(v, &it);
		while (cr_obj_next(&it, &k, &e)) {
			cr_buf_sep(b);
			if ((n = cr_str_decode(k, tmp, k.n)) < 0) return 0;
			cr_buf_str(b, tmp, (size_t)n);
			cr_buf_char(b, ':');
			if (!copy_value(b, e, tmp)) return 0;
		}
		cr_buf_char(b, '}');
		return !it.err;
	case CR_ARRAY:
		cr_buf_char(b, '[');
		cr_arr_iter(v, &it);
		while (cr_arr_next(&it, &e)) {
			cr_buf_sep(b);
			if (!copy_value(b, e, tmp)) return 0;
		}
		cr_buf_char(b, ']');
		return !it.err;
	case CR_STRING:
		if ((n = cr_str_decode(v, tmp, v.n)) < 0) return 0;
		cr_buf_str(b, tmp, (size_t)n);
		return 1;
	case CR_NUMBER:
		if (cr_i64(v, &i)) cr_buf_i64(b, i);
		else if (cr_f64(v, &d)) cr_buf_f64(b, d);
		else cr_buf_lit(b, "\"unparsed number\"");
		return 1;
	case CR_TRUE: case CR_FALSE: case CR_NULL:
		cr_buf_json(b, v);
		return 1;
	default:
		return 0;
	}
}

/* dirty_heap frees a block the size of the input's end index, filled with entries of the
 * generation cr_input is about to give it (one parse per call, so the call count), each
 * naming the document's last byte as a value's end: the allocator hands this memory to the
 * index when it grows. A reader that trusted entries its parse never wrote would end a number
 * there. */
static void dirty_heap(uint32_t len) {
	static uint32_t calls;
	uint32_t *junk = (uint32_t *)malloc(8 * (size_t)(len ? len : 1));
	size_t i;
	calls++;
	if (!junk) return;
	for (i = 0; i < 2 * (size_t)len; i += 2) {
		junk[i] = calls;
		junk[i + 1] = len;
	}
	__asm__ volatile("" : : "r"(junk) : "memory"); /* keeps the stores: the block is read as freed memory */
	free(junk);
}

CR_EXPORT("hook_request") uint64_t hook_request(uint32_t ptr, uint32_t len) {
	cr_json in;
	cr_buf out;
	char *tmp;
	int ok;
	dirty_heap(len);
	if (!cr_input(ptr, len, &in)) return cr_error_status(400, "bad_json", "roundtrip: input is not valid JSON");
	if (!(tmp = malloc(in.n + 1))) return cr_error("oom", "roundtrip: no memory");
	cr_buf_init(&out, in.n + 16);
	ok = copy_value(&out, in, tmp);
	free(tmp);
	if (!ok) {
		cr_buf_free(&out);
		return cr_error("reader_disagrees", "roundtrip: validated input failed to iterate");
	}
	return cr_buf_result(&out);
}
