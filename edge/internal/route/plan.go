package route

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// Candidate is an endpoint that passed every hard filter of a request, with what the
// router knew about it when it ordered the list. Rankers (route plugins) see these.
type Candidate struct {
	Endpoint *catalog.Endpoint
	Model    *catalog.Model
	Health   *health.Endpoint
	// Price is the blended USD price per token the router sorts by.
	Price float64
	// TTFT (EWMA) and Throughput (EWMA tokens/s) are 0 when the endpoint has no data.
	TTFT       time.Duration
	Throughput float64
	// Drop are request parameters the endpoint does not support; they are left out of
	// the upstream body.
	Drop llm.ParamSet
	// Degraded: significant failures in the last window. Slow: its TTFT is far above that
	// of its model's fastest endpoint in service. MissesPrefs: it misses
	// preferred_max_latency or preferred_min_throughput, or drops structured outputs the
	// request asked for. All three only demote, never exclude.
	Degraded, Slow, MissesPrefs bool

	group    int8 // the model's place in the request's model list
	orderIdx int8 // place in provider.order (capped at 127); len(order) when not listed
	tier     int8 // 0 best … 2 worst, from the three flags above
}

// filter reasons, counted so a request left with no endpoint learns why.
const (
	whyOnly = iota
	whyIgnore
	whyOrder
	whyQuantization
	whyDataCollection
	whyZDR
	whyMaxPrice
	whyParameters
	whyTools
	whyMaxTokens
	whyCircuit
	numWhy
)

var whyText = [numWhy]string{
	"provider.only", "provider.ignore", "provider.order with allow_fallbacks false",
	"provider.quantizations", "provider.data_collection", "provider.zdr", "provider.max_price",
	"provider.require_parameters", "tool support", "max_tokens above the endpoint's limit",
	"an open circuit breaker",
}

// plan is the scratch state of one routing decision, pooled so deciding allocates nothing.
type plan struct {
	prefs   Prefs
	cands   []Candidate
	spare   []Candidate // the other half of cands' double buffer, for sorting
	keys    []uint64
	why     [numWhy]int
	seen    int // endpoints considered
	now     int64
	found   bool // at least one requested model exists
	notFoun string
	variant string
	models  []*catalog.Model // the request's models, resolved, in order
	filters bool             // some preference filters endpoints
	fastest [8]time.Duration // lowest TTFT per model group (the first 8 groups)
	// hashes of prefs.Order, Only and Ignore, for matching
	orderH, onlyH, ignoreH []uint64
}

// fastestOf finds the lowest TTFT among a model's endpoints in service, for model groups
// beyond the first eight, which admit does not track.
func (r *Router) fastestOf(p *plan, group int8) time.Duration {
	var f time.Duration
	for _, ep := range p.models[group].Endpoints {
		h := r.health[ep.ID]
		if t := h.TTFT(); t > 0 && (f == 0 || t < f) && h.State(p.now) != health.Open {
			f = t
		}
	}
	return f
}

func (p *plan) reset() {
	p.prefs = DefaultPrefs()
	p.cands = p.cands[:0]
	p.models = p.models[:0]
	p.why = [numWhy]int{}
	p.seen, p.found, p.notFoun, p.variant = 0, false, "", ""
	p.filters, p.fastest = false, [8]time.Duration{}
}

// matches reports whether a provider preference names the endpoint: its tag, its provider
// slug (which covers every variant of the provider, as "google-vertex" covers
// "google-vertex/us-east5" on OpenRouter) or its display name. Preferences are lowercased
// when parsed and names when the router is built; each side also carries a hash, so the
// usual mismatch costs one integer comparison per name.
func (r *Router) matches(pref string, h uint64, ep *catalog.Endpoint) bool {
	id := ep.ID
	return (h == r.tagH[id] && pref == r.lowerTag[id]) || (h == r.slugH[id] && pref == r.lowerSlug[id]) ||
		(h == r.nameH[id] && pref == r.lowerName[id])
}

// matchesAny returns the index of the first preference that names ep, or -1.
func (r *Router) matchesAny(prefs []string, hashes []uint64, ep *catalog.Endpoint) int {
	for i, p := range prefs {
		if r.matches(p, hashes[i], ep) {
			return i
		}
	}
	return -1
}

// nameHash is FNV-1a: names are a few bytes, and the hash must be the same for a name
// parsed from a request and the same name in the catalog.
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// hashNames fills dst with the hashes of names, growing it as needed.
func hashNames(dst []uint64, names []string) []uint64 {
	dst = dst[:0]
	for _, n := range names {
		dst = append(dst, nameHash(n))
	}
	return dst
}

// admit applies the hard filters to one endpoint and appends it as a candidate.
func (r *Router) admit(p *plan, req *llm.Request, m *catalog.Model, ep *catalog.Endpoint, group int) {
	p.seen++
	h := r.health[ep.ID]
	open := h.State(p.now) == health.Open
	// Latency outliers are judged against the model's fastest endpoint in service, whatever
	// this request's filters leave: what the model can do, not what this request allows.
	if t := h.TTFT(); !open && t > 0 && group < len(p.fastest) && (p.fastest[group] == 0 || t < p.fastest[group]) {
		p.fastest[group] = t
	}
	orderIdx := len(p.prefs.Order)
	if p.filters {
		var ok bool
		if orderIdx, ok = r.prefsAdmit(p, ep); !ok {
			return
		}
	}
	missing := req.Params &^ ep.Params
	if missing.Has(llm.ParamTools) || missing.Has(llm.ParamToolChoice) {
		// Dropping tools turns an agent's call into plain chat that "succeeds" wrongly.
		p.why[whyTools]++
		return
	}
	if p.prefs.RequireParameters && missing != 0 {
		p.why[whyParameters]++
		return
	}
	if req.MaxTokens > 0 && ep.MaxCompletionTokens > 0 && req.MaxTokens > ep.MaxCompletionTokens {
		p.why[whyMaxTokens]++
		return
	}
	if open {
		p.why[whyCircuit]++
		return
	}
	// Built in place: a candidate is written once per decision, not copied in.
	p.cands = append(p.cands, Candidate{})
	c := &p.cands[len(p.cands)-1]
	c.Endpoint, c.Model, c.Health, c.Price, c.Drop = ep, m, h, r.price[ep.ID], missing
	c.TTFT, c.Throughput, c.Degraded = h.TTFT(), h.Throughput(), h.Degraded(p.now)
	c.group, c.orderIdx = int8(min(group, 127)), int8(min(orderIdx, 127))
	// Structured outputs silently dropped produce prose where JSON was promised: prefer
	// endpoints that honour them even when the client did not require parameters.
	if missing.Has(llm.ParamStructuredOutputs) || missing.Has(llm.ParamResponseFormat) {
		c.MissesPrefs = true
	}
	pr := &p.prefs
	if pr.PreferredMaxLatency.Set && !meetsLatency(h, p.now, &pr.PreferredMaxLatency) {
		c.MissesPrefs = true
	}
	if pr.PreferredMinThroughput.Set && !meetsThroughput(h, p.now, &pr.PreferredMinThroughput) {
		c.MissesPrefs = true
	}
}

// prefsAdmit applies the provider preferences that filter (only, ignore, order without
// fallbacks, quantizations, data policy, max price) and returns the endpoint's place in
// provider.order.
func (r *Router) prefsAdmit(p *plan, ep *catalog.Endpoint) (int, bool) {
	pr := &p.prefs
	if len(pr.Only) > 0 && r.matchesAny(pr.Only, p.onlyH, ep) < 0 {
		p.why[whyOnly]++
		return 0, false
	}
	if len(pr.Ignore) > 0 && r.matchesAny(pr.Ignore, p.ignoreH, ep) >= 0 {
		p.why[whyIgnore]++
		return 0, false
	}
	orderIdx := len(pr.Order)
	if len(pr.Order) > 0 {
		if i := r.matchesAny(pr.Order, p.orderH, ep); i >= 0 {
			orderIdx = i
		} else if !pr.AllowFallbacks {
			p.why[whyOrder]++
			return 0, false
		}
	}
	if len(pr.Quantizations) > 0 && !quantizationIn(pr.Quantizations, ep.Quantization) {
		p.why[whyQuantization]++
		return 0, false
	}
	if pr.DenyDataCollection && (ep.Retains || ep.Trains) {
		p.why[whyDataCollection]++
		return 0, false
	}
	if pr.ZDR && ep.Retains {
		p.why[whyZDR]++
		return 0, false
	}
	if (pr.MaxPrice.Prompt >= 0 && ep.Pricing.Prompt > pr.MaxPrice.Prompt) ||
		(pr.MaxPrice.Completion >= 0 && ep.Pricing.Completion > pr.MaxPrice.Completion) ||
		(pr.MaxPrice.Request >= 0 && ep.Pricing.Request > pr.MaxPrice.Request) {
		p.why[whyMaxPrice]++
		return 0, false
	}
	return orderIdx, true
}

// filtering reports whether any preference filters endpoints, so the common request
// without preferences skips those checks for every candidate.
func (pr *Prefs) filtering() bool {
	return len(pr.Only) > 0 || len(pr.Ignore) > 0 || len(pr.Order) > 0 || len(pr.Quantizations) > 0 ||
		pr.DenyDataCollection || pr.ZDR || pr.MaxPrice.Prompt >= 0 || pr.MaxPrice.Completion >= 0 || pr.MaxPrice.Request >= 0
}

func quantizationIn(list []string, q string) bool {
	if q == "" {
		q = "unknown"
	}
	for _, l := range list {
		if l == q {
			return true
		}
	}
	return false
}

// meetsLatency checks TTFT percentiles (seconds) against the preference. An endpoint with
// too little data meets it: unknown is not slow, and excluding it would starve it of the
// traffic that would measure it.
func meetsLatency(h *health.Endpoint, now int64, t *Threshold) bool {
	p, ok, _, _ := h.CachedPercentiles(now)
	if !ok {
		return true
	}
	within := func(ms, bound float64) bool { return bound <= 0 || ms/1000 <= bound }
	return within(p.P50, t.P50) && within(p.P75, t.P75) && within(p.P90, t.P90) && within(p.P99, t.P99)
}

// meetsThroughput checks throughput percentiles (tokens/s) against the preference; with
// too little data for percentiles the EWMA stands in for p50.
func meetsThroughput(h *health.Endpoint, now int64, t *Threshold) bool {
	_, _, p, ok := h.CachedPercentiles(now)
	if !ok {
		v := h.Throughput()
		return v == 0 || v >= t.P50
	}
	above := func(v, bound float64) bool { return bound <= 0 || v >= bound }
	return above(p.P50, t.P50) && above(p.P75, t.P75) && above(p.P90, t.P90) && above(p.P99, t.P99)
}

// order sorts the candidates: by model group (unless partition is none), then by the
// provider.order place, then health tier, then the sort key, then price.
func (r *Router) order(p *plan) {
	c := p.cands
	pr := &p.prefs
	for i := range c {
		x := &c[i]
		if r.outlier > 0 && x.TTFT > 0 {
			var fastest time.Duration
			if int(x.group) < len(p.fastest) {
				fastest = p.fastest[x.group]
			} else {
				fastest = r.fastestOf(p, x.group)
			}
			x.Slow = float64(x.TTFT) > float64(fastest)*r.outlier
		}
		switch {
		case x.Degraded:
			x.tier = 2
		case x.Slow && pr.Sort == SortNone:
			// An explicit latency or throughput sort already ranks slow endpoints; in load
			// balancing they leave the first pick.
			x.tier = 2
		case x.MissesPrefs:
			x.tier = 1
		default:
			x.tier = 0
		}
	}
	global := pr.PartitionNone && pr.Sort != SortNone
	if !r.sortPacked(p, global) {
		slices.SortStableFunc(c, func(a, b Candidate) int {
			if !global && a.group != b.group {
				return int(a.group) - int(b.group)
			}
			if a.orderIdx != b.orderIdx {
				return int(a.orderIdx) - int(b.orderIdx)
			}
			if a.tier != b.tier {
				return int(a.tier) - int(b.tier)
			}
			if k := sortKey(pr.Sort, &a, &b); k != 0 {
				return k
			}
			return cmp.Compare(a.Price, b.Price)
		})
	}
}

// balance is the default load balancing: the first pick among each model's best-tier
// endpoints is random, weighted by the inverse square of price; the rest stay in price
// order as fallbacks.
func (r *Router) balance(p *plan) {
	c := p.cands
	for lo := 0; lo < len(c); {
		hi := lo
		for hi < len(c) && c[hi].group == c[lo].group && c[hi].tier == c[lo].tier {
			hi++
		}
		if hi-lo > 1 {
			pick := r.weightedPick(c[lo:hi])
			if pick > 0 {
				chosen := c[lo+pick]
				copy(c[lo+1:lo+pick+1], c[lo:lo+pick])
				c[lo] = chosen
			}
		}
		for lo < len(c) && c[lo].group == c[hi-1].group {
			lo++
		}
	}
}

// sortPacked orders the usual case — at most 64 candidates, 8 models and 15 preferred
// providers — by one packed integer key per candidate: sorting 50 large structs with a
// comparator costs several microseconds, sorting 50 integers a fraction of one. It
// reports false when the case does not fit; the general sort then runs.
//
// Key layout, high to low: group (3 bits), order place (4), tier (2), metric (49), index
// (6, which also makes the sort stable). The metric is a non-negative float64's bits
// shifted down, which keeps their order; for throughput and latency sorts its top bit
// marks "no data", and those endpoints then sort by price.
func (r *Router) sortPacked(p *plan, global bool) bool {
	c := p.cands
	if len(c) > 64 || len(p.prefs.Order) > 15 {
		return false
	}
	const low48 = 1<<48 - 1
	keys := p.keys[:0]
	for i := range c {
		x := &c[i]
		if x.group > 7 {
			return false
		}
		var metric uint64
		price := math.Float64bits(x.Price) >> 16
		switch p.prefs.Sort {
		case SortThroughput:
			if x.Throughput > 0 {
				metric = low48 - math.Float64bits(x.Throughput)>>16
			} else {
				metric = 1<<48 | price
			}
		case SortLatency:
			if x.TTFT > 0 {
				metric = math.Float64bits(float64(x.TTFT)) >> 16
			} else {
				metric = 1<<48 | price
			}
		default:
			metric = price
		}
		group := uint64(x.group)
		if global {
			group = 0
		}
		k := group<<61 | uint64(min(x.orderIdx, 15))<<57 | uint64(x.tier)<<55 | (metric&(1<<49-1))<<6 | uint64(i)
		keys = append(keys, k)
	}
	if len(keys) > topK {
		// Only the head of the list is ever tried (attempts are capped), so the first topK
		// are selected and sorted and the rest keep their catalog order: a full sort of 50
		// keys costs more than the whole decision is allowed.
		selectHead(keys, topK)
	} else {
		slices.Sort(keys)
	}
	sorted := p.spare[:0]
	for _, k := range keys {
		sorted = append(sorted, c[k&63])
	}
	p.keys, p.spare, p.cands = keys, c, sorted
	return true
}

// topK is how many candidates are put in full order; it exceeds any sensible max_attempts
// with room for candidates skipped because their breaker's one probe is out.
const topK = 16

// selectHead moves the k smallest keys, sorted, to the front of keys (Hoare's quickselect,
// then a sort of the head); the rest follow in no particular order.
func selectHead(keys []uint64, k int) {
	lo, hi := 0, len(keys)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		a, b, c := keys[lo], keys[mid], keys[hi]
		pivot := max(min(a, b), min(max(a, b), c)) // median of three
		i, j := lo, hi
		for i <= j {
			for keys[i] < pivot {
				i++
			}
			for keys[j] > pivot {
				j--
			}
			if i <= j {
				keys[i], keys[j] = keys[j], keys[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			lo = hi
		}
	}
	slices.Sort(keys[:k])
}

func sortKey(s Sort, a, b *Candidate) int {
	switch s {
	case SortPrice:
		return cmp.Compare(a.Price, b.Price)
	case SortThroughput:
		// Unknown throughput sorts after every measured one.
		if (a.Throughput == 0) != (b.Throughput == 0) {
			if a.Throughput == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.Throughput, a.Throughput)
	case SortLatency:
		if (a.TTFT == 0) != (b.TTFT == 0) {
			if a.TTFT == 0 {
				return 1
			}
			return -1
		}
		return int(min(max(a.TTFT-b.TTFT, -1), 1))
	}
	return 0
}

// minPrice stands in for a zero price in the inverse-square weight, so free endpoints are
// strongly preferred and share traffic evenly among themselves.
const minPrice = 1e-12

func (r *Router) weightedPick(c []Candidate) int {
	var sum float64
	for i := range c {
		sum += r.weight[c[i].Endpoint.ID]
	}
	x := rand.Float64() * sum
	for i := range c {
		x -= r.weight[c[i].Endpoint.ID]
		if x < 0 {
			return i
		}
	}
	return len(c) - 1
}

// inverseSquare is the load-balancing weight of a price.
func inverseSquare(price float64) float64 {
	p := max(price, minPrice)
	return 1 / (p * p)
}
