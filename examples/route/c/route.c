/* fastest-healthy: drop candidates whose circuit is open, then try the one with the lowest time
 * to first token first (whole milliseconds; ties keep the host's order). */
#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"fastest-healthy\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"],"
               "\"description\":\"drops open circuits, orders the rest by time to first token\"}")

typedef struct {
	cr_json id;
	int64_t ttft; /* whole milliseconds */
} entry;

CR_EXPORT("hook_route") uint64_t hook_route(uint32_t ptr, uint32_t len) {
	cr_json in, req;
	cr_iter cands;
	cr_candidate c;
	entry *list = NULL, *grown;
	size_t n = 0, cap = 0, i, j;
	cr_buf out;

	if (!cr_input(ptr, len, &in) || !cr_route_input(in, &req, &cands))
		return CR_UNCHANGED; /* not a route payload: keep the host's order */
	while (cr_route_next(&cands, &c)) {
		if (!cr_is(c.id, CR_STRING) || cr_candidate_circuit(&c) == CR_CIRCUIT_OPEN) continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(grown = realloc(list, cap * sizeof *list))) {
				free(list);
				return CR_UNCHANGED;
			}
			list = grown;
		}
		/* a missing ttft_ms reads as NAN; it counts as 0, as in the other languages */
		list[n].id = c.id;
		list[n].ttft = isnan(c.ttft_ms) ? 0 : (int64_t)c.ttft_ms;
		n++;
	}
	/* Insertion sort is stable, which ties need, and fast for a handful of candidates. */
	for (i = 1; i < n; i++) {
		entry e = list[i];
		for (j = i; j > 0 && list[j - 1].ttft > e.ttft; j--) list[j] = list[j - 1];
		list[j] = e;
	}
	cr_buf_init(&out, 16 + n * 40);
	cr_buf_lit(&out, "{\"order\":[");
	for (i = 0; i < n; i++) {
		cr_buf_sep(&out);
		cr_buf_json_str(&out, list[i].id);
	}
	cr_buf_lit(&out, "]}");
	free(list);
	return cr_buf_result(&out);
}
