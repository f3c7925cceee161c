//go:build ignore

/* The constraint above keeps the go command from treating this C file as cgo source: the
 * folder is also the Go package that tests the built plugin. */

/* weighted: the route plugin that scores each candidate on cost, latency and errors.
 *
 *   score = w_cost * norm(price.prompt + price.completion)
 *         + w_latency * norm(ttft_ms)
 *         + w_errors * error_rate
 *         - region_bonus      (candidate in prefer_region)
 *         + degraded_penalty  (candidate marked degraded)
 *
 * norm() maps a value onto 0..1 between the cheapest (fastest) and the dearest (slowest)
 * candidate of this request, so the weights compare like with like whatever the units. Lower
 * scores are tried first; ties keep the host's order; open circuits are dropped.
 *
 * Config (plugin_init), every key optional:
 *   {"weights":{"cost":0.5,"latency":0.3,"errors":0.2},"prefer_region":"eu",
 *    "region_bonus":0.2,"degraded_penalty":0.5}
 * prefer_region "eu" matches the regions "eu" and "eu-*". Unknown keys, negative or
 * non-finite numbers and all-zero weights are refused, so a typo fails the load instead of
 * silently routing by defaults. */
#define CROSSROADS_IMPLEMENTATION
#include "crossroads.h"

CR_PLUGIN_INFO("{\"name\":\"weighted\",\"version\":\"1.0.0\",\"hooks\":[\"hook_route\"],"
               "\"description\":\"scores candidates on price, time to first token and error rate\"}")

/* The config. It is set once per instance by plugin_init, before any request, so keeping it
 * in globals carries no request data between calls. */
static double w_cost = 0.5, w_latency = 0.3, w_errors = 0.2;
static double region_bonus = 0.2, degraded_penalty = 0.5;
static char prefer_region[64];
static size_t prefer_len;

static uint64_t bad_config(const char *msg) { return cr_error("bad_config", msg); }

/* read_weight stores a non-negative finite number, or reports why it cannot. */
static const char *read_weight(cr_json v, double *out) {
	double d;
	if (!cr_f64(v, &d) || !isfinite(d)) return "must be a number";
	if (d < 0) return "must not be negative";
	*out = d;
	return NULL;
}

static uint64_t config_error(const char *what, const char *why) {
	char msg[160];
	snprintf(msg, sizeof msg, "weighted: %s %s", what, why);
	return bad_config(msg);
}

/* unknown_key names the offending key, so that a typo is obvious from the load error. */
static uint64_t unknown_key(cr_json k, const char *what, const char *want) {
	char key[48], msg[200];
	long n = cr_str_decode(k, key, sizeof key - 1);
	if (n < 0) snprintf(key, sizeof key, "(a long key)");
	else key[n] = 0;
	snprintf(msg, sizeof msg, "weighted: unknown %s \"%s\"; want %s", what, key, want);
	return bad_config(msg);
}

CR_EXPORT("plugin_init") uint64_t plugin_init(uint32_t ptr, uint32_t len) {
	cr_json cfg, k, v, wk, wv;
	cr_iter it, wit;
	const char *why;
	char key[48];
	long n;

	if (len == 0) return CR_UNCHANGED; /* no config: the defaults above */
	if (!cr_input(ptr, len, &cfg) || !cr_is(cfg, CR_OBJECT)) return bad_config("weighted: config must be a JSON object");
	cr_obj_iter(cfg, &it);
	while (cr_obj_next(&it, &k, &v)) {
		if (cr_str_eq(k, "weights")) {
			if (!cr_is(v, CR_OBJECT)) return bad_config("weighted: weights must be an object");
			w_cost = w_latency = w_errors = 0; /* weights left out of the object count as 0 */
			cr_obj_iter(v, &wit);
			while (cr_obj_next(&wit, &wk, &wv)) {
				if (cr_str_eq(wk, "cost")) why = read_weight(wv, &w_cost);
				else if (cr_str_eq(wk, "latency")) why = read_weight(wv, &w_latency);
				else if (cr_str_eq(wk, "errors")) why = read_weight(wv, &w_errors);
				else return unknown_key(wk, "weight", "cost, latency or errors");
				if (why) {
					const cr_json raw = cr_str_raw(wk);
					snprintf(key, sizeof key, "weights.%.*s", (int)(raw.n < 30 ? raw.n : 30), raw.p);
					return config_error(key, why);
				}
			}
			if (w_cost == 0 && w_latency == 0 && w_errors == 0)
				return bad_config("weighted: weights are all zero; give cost, latency or errors a positive weight");
		} else if (cr_str_eq(k, "prefer_region")) {
			if (!cr_is(v, CR_STRING)) return bad_config("weighted: prefer_region must be a string");
			n = cr_str_decode(v, prefer_region, sizeof prefer_region - 1);
			if (n < 0) return bad_config("weighted: prefer_region is longer than 63 bytes");
			prefer_len = (size_t)n;
		} else if (cr_str_eq(k, "region_bonus")) {
			if ((why = read_weight(v, &region_bonus))) return config_error("region_bonus", why);
		} else if (cr_str_eq(k, "degraded_penalty")) {
			if ((why = read_weight(v, &degraded_penalty))) return config_error("degraded_penalty", why);
		} else {
			return unknown_key(k, "config key", "weights, prefer_region, region_bonus or degraded_penalty");
		}
	}
	if (it.err) return bad_config("weighted: config is not valid JSON");
	return CR_UNCHANGED;
}

typedef struct {
	cr_json id;
	double price, ttft, error_rate, score;
	int in_region, degraded;
} entry;

/* in_region: the region equals prefer_region or starts with it and a dash ("eu" → "eu-west"). */
static int in_region(cr_json region) {
	cr_json r = cr_str_raw(region);
	if (prefer_len == 0 || r.n < prefer_len || memcmp(r.p, prefer_region, prefer_len) != 0) return 0;
	return r.n == prefer_len || r.p[prefer_len] == '-';
}

/* norm maps v onto 0..1 between lo and hi. An unknown value (NAN) counts as the worst, so
 * missing data is never an advantage. */
static double norm(double v, double lo, double hi) {
	if (isnan(v)) return 1;
	return hi > lo ? (v - lo) / (hi - lo) : 0;
}

CR_EXPORT("hook_route") uint64_t hook_route(uint32_t ptr, uint32_t len) {
	cr_json in, req;
	cr_iter cands;
	cr_candidate c;
	entry *list = NULL, *grown;
	size_t n = 0, cap = 0, i, j;
	double lo_p = INFINITY, hi_p = -INFINITY, lo_t = INFINITY, hi_t = -INFINITY;
	cr_buf out;

	if (!cr_input(ptr, len, &in) || !cr_route_input(in, &req, &cands)) return CR_UNCHANGED;
	while (cr_route_next(&cands, &c)) {
		entry *e;
		if (!cr_is(c.id, CR_STRING) || cr_candidate_circuit(&c) == CR_CIRCUIT_OPEN) continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(grown = realloc(list, cap * sizeof *list))) {
				free(list);
				return CR_UNCHANGED;
			}
			list = grown;
		}
		e = &list[n++];
		e->id = c.id;
		/* a price with one side unknown is unknown: a half price would look cheap */
		e->price = c.price_prompt + c.price_completion;
		e->ttft = c.ttft_ms;
		e->error_rate = isnan(c.error_rate) ? 0 : c.error_rate;
		e->in_region = in_region(c.region);
		e->degraded = c.degraded;
		if (!isnan(e->price)) {
			lo_p = fmin(lo_p, e->price);
			hi_p = fmax(hi_p, e->price);
		}
		if (!isnan(e->ttft)) {
			lo_t = fmin(lo_t, e->ttft);
			hi_t = fmax(hi_t, e->ttft);
		}
	}
	for (i = 0; i < n; i++) {
		entry *e = &list[i];
		e->score = w_cost * norm(e->price, lo_p, hi_p) + w_latency * norm(e->ttft, lo_t, hi_t) +
		           w_errors * e->error_rate;
		if (e->in_region) e->score -= region_bonus;
		if (e->degraded) e->score += degraded_penalty;
	}
	/* Insertion sort: stable, so equal scores keep the host's order. */
	for (i = 1; i < n; i++) {
		entry e = list[i];
		for (j = i; j > 0 && list[j - 1].score > e.score; j--) list[j] = list[j - 1];
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
