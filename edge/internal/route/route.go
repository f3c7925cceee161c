// Package route owns choosing where a request goes and getting it there: resolving the
// requested model (and OpenRouter's `models` fallback list and `:nitro`/`:floor`
// variants) to provider endpoints, filtering them by the request's `provider` preferences,
// ordering them (price-weighted load balancing, explicit sorts, sticky conversations,
// health), and running the attempts — failing over, or hedging, only before anything
// reached the client.
//
// Per-endpoint live statistics and circuit breakers are in route/health; route plugins
// plug in through Ranker.
package route

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
	"github.com/crossroads-llm/crossroads/edge/internal/telemetry"
)

// Ranker is the extension point of routing: a stage that sees the ordered candidates of a
// request and may reorder or drop them (route plugins implement it). It returns the new
// list, which must hold only candidates it was given; returning the input unchanged is
// the cheap "no opinion". It must not block for long: the request waits on it.
type Ranker interface {
	Rank(ctx context.Context, req *llm.Request, cands []Candidate) []Candidate
}

// Options configure a Router. Health and Sticky outlive router generations: pass the same
// ones to the router built by a reload.
type Options struct {
	Catalog *catalog.Catalog
	// Providers are the adapters by provider slug; every catalog endpoint must have one.
	Providers map[string]provider.Provider
	Health    *health.Registry
	// Sticky pins conversations; nil turns sticky routing off.
	Sticky *Sticky
	// FirstByteTimeout bounds one attempt's wait for its first byte (a provider's own
	// FirstByteTimeout wins); TotalTimeout bounds all attempts until one answers.
	FirstByteTimeout, TotalTimeout time.Duration
	MaxAttempts                    int
	// LatencyOutlier: an endpoint whose TTFT exceeds this multiple of its model's fastest
	// leaves the load-balanced first pick. 0 disables.
	LatencyOutlier float64
	Hedge          Hedge
	Rankers        []Ranker
	Log            *slog.Logger
	// Metrics counts attempts, failovers and hedges; nil keeps them to the router.
	Metrics *telemetry.Metrics
}

// Hedge configures hedged attempts: when the first attempt has not produced its first
// byte after Delay (0: its endpoint's TTFT p95, clamped to [MinDelay, MaxDelay]), the next
// candidate starts too; the first to answer wins and the other is cancelled.
type Hedge struct {
	Enabled                   bool
	Delay, MinDelay, MaxDelay time.Duration
}

// Router is the terminal pipeline stage: it decides and runs the attempts.
type Router struct {
	cat       *catalog.Catalog
	adapters  []provider.Provider // by endpoint ID
	health    []*health.Endpoint  // by endpoint ID
	reg       *health.Registry
	sticky    *Sticky
	firstByte []time.Duration // by endpoint ID
	price     []float64       // blended price, by endpoint ID
	weight    []float64       // load-balancing weight, by endpoint ID
	routeOK   []string        // "key=200", the route header of a first-try success, by endpoint ID
	// lowercased names provider preferences match, by endpoint ID
	lowerTag, lowerSlug, lowerName []string
	tagH, slugH, nameH             []uint64
	total                          time.Duration
	attempts                       int
	outlier                        float64
	hedge                          Hedge
	rankers                        []Ranker
	log                            *slog.Logger
	metrics                        *telemetry.Metrics
	plans                          sync.Pool
	snaps                          []modelSnap // by model index
}

var _ pipeline.Handler = (*Router)(nil)

// New returns a router over a catalog and the providers its endpoints name.
func New(o Options) (*Router, error) {
	if o.Health == nil {
		o.Health = health.NewRegistry(health.Config{})
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.FirstByteTimeout <= 0 {
		o.FirstByteTimeout = 120 * time.Second
	}
	if o.TotalTimeout <= 0 {
		o.TotalTimeout = 10 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.NewMetrics()
	}
	eps := o.Catalog.Endpoints()
	r := &Router{
		cat: o.Catalog, reg: o.Health, sticky: o.Sticky, total: o.TotalTimeout, attempts: o.MaxAttempts,
		outlier: o.LatencyOutlier, hedge: o.Hedge, rankers: o.Rankers, log: o.Log, metrics: o.Metrics,
		adapters: make([]provider.Provider, len(eps)), health: make([]*health.Endpoint, len(eps)),
		firstByte: make([]time.Duration, len(eps)),
		price:     make([]float64, len(eps)), weight: make([]float64, len(eps)), routeOK: make([]string, len(eps)),
		lowerTag: make([]string, len(eps)), lowerSlug: make([]string, len(eps)), lowerName: make([]string, len(eps)),
		tagH: make([]uint64, len(eps)), slugH: make([]uint64, len(eps)), nameH: make([]uint64, len(eps)),
	}
	for i, ep := range eps {
		if ep.ID != i {
			return nil, fmt.Errorf("route: new: endpoint %s has ID %d at index %d", ep.Key, ep.ID, i)
		}
		p, ok := o.Providers[ep.Provider]
		if !ok {
			return nil, fmt.Errorf("route: new: endpoint %s names provider %q, which has no adapter", ep.Key, ep.Provider)
		}
		r.adapters[i] = p
		r.health[i] = o.Health.Get(ep.Key)
		r.price[i] = ep.Pricing.Blended()
		r.weight[i] = inverseSquare(r.price[i])
		r.routeOK[i] = ep.Key + "=200"
		r.lowerTag[i], r.lowerSlug[i], r.lowerName[i] = strings.ToLower(ep.Tag), strings.ToLower(ep.Provider), strings.ToLower(ep.ProviderName)
		r.tagH[i], r.slugH[i], r.nameH[i] = nameHash(r.lowerTag[i]), nameHash(r.lowerSlug[i]), nameHash(r.lowerName[i])
		r.firstByte[i] = o.FirstByteTimeout
		if pc := o.Catalog.Provider(ep.Provider); pc != nil && pc.FirstByteTimeout > 0 {
			r.firstByte[i] = pc.FirstByteTimeout
		}
	}
	r.snaps = make([]modelSnap, len(o.Catalog.Models()))
	r.plans.New = func() any {
		return &plan{cands: make([]Candidate, 0, 64), spare: make([]Candidate, 0, 64), keys: make([]uint64, 0, 64)}
	}
	return r, nil
}

// Health returns the live state of the endpoint with the given catalog ID.
func (r *Router) Health(id int) *health.Endpoint { return r.health[id] }

// Serve decides the candidates for req and tries them until one answers.
func (r *Router) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p := r.plans.Get().(*plan)
	defer r.plans.Put(p)
	p.reset()
	p.now = time.Now().UnixNano()
	if err := ParsePrefs(&p.prefs, req.Provider, req.Route); err != nil {
		return nil, err
	}
	conv, sticky := uint64(0), false
	if err := r.decide(p, req); err != nil {
		return nil, err
	}
	if r.sticky != nil && p.prefs.loadBalanced() {
		conv, sticky = r.sticky.conversation(req, p.cands[0].Model.ID)
		if sticky {
			r.applyPin(p, conv)
		}
	}
	cands := p.cands
	for _, rk := range r.rankers {
		cands = rk.Rank(ctx, req, cands)
		if len(cands) == 0 {
			return nil, &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "model",
				Message: "a routing rule left no endpoint for this request"}
		}
	}
	var res served
	var err error
	if r.hedge.Enabled && len(cands) > 1 {
		res, err = r.runHedged(ctx, req, cands)
	} else {
		res, err = r.run(ctx, req, cands)
	}
	if err != nil {
		return nil, err
	}
	if sticky {
		r.sticky.remember(conv, res.endpointKey, time.Now().UnixNano())
	}
	return res.Response, nil
}

// decide resolves the request's models and fills p.cands, filtered and ordered.
func (r *Router) decide(p *plan, req *llm.Request) *llm.Error {
	p.filters = p.prefs.filtering()
	if p.filters {
		p.orderH = hashNames(p.orderH, p.prefs.Order)
		p.onlyH = hashNames(p.onlyH, p.prefs.Only)
		p.ignoreH = hashNames(p.ignoreH, p.prefs.Ignore)
	}
	r.resolve(p, req)
	if !r.decideFast(p, req) {
		p.cands, p.why, p.seen = p.cands[:0], [numWhy]int{}, 0
		for g, m := range p.models {
			for _, ep := range m.Endpoints {
				r.admit(p, req, m, ep, g)
			}
		}
		if len(p.cands) == 0 {
			return r.noCandidates(p, req)
		}
		r.order(p)
	}
	if p.prefs.loadBalanced() {
		r.balance(p)
	}
	if !p.prefs.AllowFallbacks && len(p.prefs.Order) == 0 {
		// Only the primary endpoint of each model: the client would rather see its error.
		out := p.cands[:0]
		for i, c := range p.cands {
			if i == 0 || c.group != p.cands[i-1].group {
				out = append(out, c)
			}
		}
		p.cands = out
	}
	return nil
}

// resolve fills p.models from the request's model and its `models` list, and applies a
// :nitro or :floor variant of the primary model to the sort.
func (r *Router) resolve(p *plan, req *llm.Request) {
	consider := func(id string, primary bool) {
		for _, m := range p.models {
			if m.ID == id {
				return
			}
		}
		m, ok := r.cat.Resolve(id)
		if !ok {
			var variant string
			m, variant, ok = r.cat.ResolveVariant(id)
			// Only the dynamic variants are routing: ":free", ":extended" and the like are
			// models of their own, and serving the base model for them would be a lie.
			ok = ok && (variant == "nitro" || variant == "floor")
			if ok && primary {
				p.variant = variant
			}
		}
		if !ok {
			if p.notFoun == "" {
				p.notFoun = id
			}
			return
		}
		p.found = true
		p.models = append(p.models, m)
	}
	if req.Model != "" {
		consider(req.Model, true)
	}
	for _, id := range req.Models {
		consider(id, req.Model == "")
	}
	switch p.variant {
	case "nitro":
		if p.prefs.Sort == SortNone {
			p.prefs.Sort = SortThroughput
		}
	case "floor":
		if p.prefs.Sort == SortNone {
			p.prefs.Sort = SortPrice
		}
	}
}

// applyPin moves the endpoint the conversation is pinned to to the front, while it is
// still a candidate and healthy. A pin to a degraded endpoint is left alone here; the
// attempt that serves elsewhere re-pins the conversation.
func (r *Router) applyPin(p *plan, conv uint64) {
	key, ok := r.sticky.lookup(conv, p.now)
	if !ok {
		return
	}
	c := p.cands
	for i := range c {
		if c[i].group != c[0].group {
			return
		}
		if c[i].Endpoint.Key != key {
			continue
		}
		if c[i].Degraded || i == 0 {
			return
		}
		pinned := c[i]
		copy(c[1:i+1], c[:i])
		c[0] = pinned
		return
	}
}

func (r *Router) noCandidates(p *plan, req *llm.Request) *llm.Error {
	if !p.found {
		if p.notFoun == "" {
			return llm.BadRequest("model", "no model given: set `model` or `models`")
		}
		return notFound(p.notFoun)
	}
	if p.why[whyCircuit] == p.seen {
		var eps []*catalog.Endpoint
		for _, m := range p.models {
			eps = append(eps, m.Endpoints...)
		}
		return r.circuitOpen(eps, p.now)
	}
	if p.why[whyTools] == p.seen {
		return &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "tools",
			Message: "no endpoint of the requested model supports tool use; GET /api/v1/models/{author}/{slug}/endpoints lists each endpoint's supported_parameters"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no endpoint of the requested model matches this request: of %d endpoints", p.seen)
	sep := " "
	for i, n := range p.why {
		if n > 0 {
			fmt.Fprintf(&b, "%s%d left out by %s", sep, n, whyText[i])
			sep = ", "
		}
	}
	return &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "provider", Message: b.String()}
}

// circuitOpen is the error for a request whose every endpoint has its breaker open: 429
// when every breaker opened on the provider's rate limit (come back later), else 503, with
// a Retry-After of when the first breaker closes.
func (r *Router) circuitOpen(eps []*catalog.Endpoint, now int64) *llm.Error {
	var soonest int64
	limited := true
	for _, ep := range eps {
		h := r.health[ep.ID]
		if u := h.OpenUntil(); u > now && (soonest == 0 || u < soonest) {
			soonest = u
		}
		limited = limited && h.RateLimited(now)
	}
	ra := "1"
	if soonest > now {
		ra = fmt.Sprint(max(1, (soonest-now+int64(time.Second)-1)/int64(time.Second)))
	}
	if limited && len(eps) > 0 {
		return &llm.Error{Status: http.StatusTooManyRequests, Type: llm.TypeRateLimit, RetryAfter: ra,
			Message: "every endpoint for this model is rate limited by its provider; retry after the Retry-After delay"}
	}
	return &llm.Error{Status: http.StatusServiceUnavailable, Type: llm.TypeUnavailable, RetryAfter: ra,
		Message: "every endpoint for this model is cooling down after repeated failures (circuit open); retry shortly"}
}

func notFound(id string) *llm.Error {
	msg := fmt.Sprintf("model %q is not served by this node; GET /v1/models lists the models it serves", id)
	if strings.HasPrefix(id, "openai/") || strings.HasPrefix(id, "gpt-") {
		msg += " (set OPENAI_API_KEY to serve OpenAI models)"
	}
	return &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "model", Message: msg}
}
