#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"cheapest\",\"version\":\"0.1.0\",\"hooks\":[\"hook_route\"]}")

/* Orders candidates by prompt price, dropping open circuits. */
CR_EXPORT("hook_route") uint64_t hook_route(uint32_t ptr, uint32_t len) {
	cr_json in, req;
	cr_iter cands;
	cr_candidate c;
	cr_json ids[64];
	double price[64];
	size_t n = 0, i;
	cr_buf out;
	if (!cr_input(ptr, len, &in) || !cr_route_input(in, &req, &cands))
		return cr_error("bad_input", "hook_route: input is not a route payload");
	while (n < 64 && cr_route_next(&cands, &c)) {
		if (cr_candidate_circuit(&c) == CR_CIRCUIT_OPEN) continue;
		ids[n] = c.id;
		price[n] = isnan(c.price_prompt) ? 1e9 : c.price_prompt;
		for (i = n++; i > 0 && price[i - 1] > price[i]; i--) {
			double tp = price[i]; price[i] = price[i - 1]; price[i - 1] = tp;
			cr_json t = ids[i]; ids[i] = ids[i - 1]; ids[i - 1] = t;
		}
	}
	cr_buf_init(&out, 256);
	cr_route_order(&out, ids, n);
	return cr_buf_result(&out);
}
