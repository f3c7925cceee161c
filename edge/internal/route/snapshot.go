package route

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// A snapshot is one model's endpoints already ordered for each sort, as of a moment: what
// health says changes over seconds, not per request, so ordering 50 endpoints for every
// request would redo the same work thousands of times a second. Requests walk the
// snapshot, skip what their own filters exclude, and keep its order, which is the order
// the full decision would produce on the same data.
//
// A snapshot is at most snapshotEvery old. The staleness is safe: an endpoint whose
// breaker opened since is refused at attempt time (Admit), and one that recovered waits at
// most that long to be ranked as healthy again.
type snapshot struct {
	at    int64
	epoch uint64         // the health registry's epoch when built
	order [4][]Candidate // by Sort; group 0, no request-specific fields
}

// A snapshot is rebuilt every snapshotEvery, and sooner — after snapshotMinAge — when an
// endpoint's breaker or degraded standing changed (the registry's epoch moved): an outage
// must reorder traffic at once, while a flapping endpoint must not rebuild it per request.
const (
	snapshotEvery  = int64(100 * time.Millisecond)
	snapshotMinAge = int64(2 * time.Millisecond)
)

type modelSnap struct {
	cur      atomic.Pointer[snapshot]
	building atomic.Bool
}

// snapshotOf returns a fresh enough snapshot of m, rebuilding it when stale. One request
// rebuilds while the others keep using the previous snapshot.
func (r *Router) snapshotOf(m *catalog.Model, now int64) *snapshot {
	ms := &r.snaps[m.Index]
	s := ms.cur.Load()
	if s != nil && now >= s.at {
		age := now - s.at
		if age < snapshotMinAge || (age < snapshotEvery && s.epoch == r.reg.Epoch()) {
			return s
		}
	}
	if s != nil && !ms.building.CompareAndSwap(false, true) {
		return s
	}
	n := r.buildSnapshot(m, now)
	ms.cur.Store(n)
	ms.building.Store(false)
	return n
}

func (r *Router) buildSnapshot(m *catalog.Model, now int64) *snapshot {
	s := &snapshot{at: now, epoch: r.reg.Epoch()}
	var base []Candidate
	var fastest time.Duration
	for _, ep := range m.Endpoints {
		h := r.health[ep.ID]
		if h.State(now) == health.Open {
			continue
		}
		c := Candidate{Endpoint: ep, Model: m, Health: h, Price: r.price[ep.ID],
			TTFT: h.TTFT(), Throughput: h.Throughput(), Degraded: h.Degraded(now)}
		if c.TTFT > 0 && (fastest == 0 || c.TTFT < fastest) {
			fastest = c.TTFT
		}
		base = append(base, c)
	}
	for i := range base {
		c := &base[i]
		c.Slow = r.outlier > 0 && c.TTFT > 0 && float64(c.TTFT) > float64(fastest)*r.outlier
	}
	for sort := SortNone; sort <= SortLatency; sort++ {
		list := slices.Clone(base)
		for i := range list {
			c := &list[i]
			switch {
			case c.Degraded, c.Slow && sort == SortNone:
				c.tier = 2
			default:
				c.tier = 0
			}
		}
		slices.SortStableFunc(list, func(a, b Candidate) int {
			if a.tier != b.tier {
				return int(a.tier) - int(b.tier)
			}
			if k := sortKey(sort, &a, &b); k != 0 {
				return k
			}
			if a.Price != b.Price {
				if a.Price < b.Price {
					return -1
				}
				return 1
			}
			return 0
		})
		s.order[sort] = list
	}
	return s
}

// decideFast fills p.cands from snapshots when the request's preferences keep snapshot
// order: no latency or throughput preference, no global sort across
// models, and no structured-output request (which demotes endpoints per request). It
// reports false when the full decision must run instead, including when nothing is left:
// the full decision then explains why.
func (r *Router) decideFast(p *plan, req *llm.Request) bool {
	pr := &p.prefs
	if len(p.models) == 0 || len(pr.Order) > 15 || pr.PreferredMaxLatency.Set || pr.PreferredMinThroughput.Set ||
		(pr.PartitionNone && pr.Sort != SortNone) || len(p.models) > 127 ||
		req.Params.Has(llm.ParamResponseFormat) || req.Params.Has(llm.ParamStructuredOutputs) {
		return false
	}
	for _, m := range p.models {
		if m.Index < 0 {
			return false // a passthrough model: one endpoint, nothing to gain
		}
	}
	p.cands = p.cands[:0]
	for g, m := range p.models {
		snap := r.snapshotOf(m, p.now)
		for i := range snap.order[pr.Sort] {
			c := &snap.order[pr.Sort][i]
			ep := c.Endpoint
			orderIdx := 0
			if p.filters {
				var ok bool
				if orderIdx, ok = r.prefsAdmit(p, ep); !ok {
					continue
				}
			}
			missing := req.Params &^ ep.Params
			if missing.Has(llm.ParamTools) || missing.Has(llm.ParamToolChoice) ||
				(pr.RequireParameters && missing != 0) ||
				(req.MaxTokens > 0 && ep.MaxCompletionTokens > 0 && req.MaxTokens > ep.MaxCompletionTokens) {
				continue
			}
			p.cands = append(p.cands, *c)
			last := &p.cands[len(p.cands)-1]
			last.Drop, last.group, last.orderIdx = missing, int8(g), int8(orderIdx)
		}
	}
	if len(p.cands) == 0 {
		return false
	}
	if len(pr.Order) > 0 {
		p.byOrder()
	}
	return true
}

// byOrder moves the endpoints provider.order names to the front of their model's list, in
// the order named, keeping everything else in snapshot order behind them.
func (p *plan) byOrder() {
	n := len(p.prefs.Order)
	out := p.spare[:0]
	for lo := 0; lo < len(p.cands); {
		hi := lo
		for hi < len(p.cands) && p.cands[hi].group == p.cands[lo].group {
			hi++
		}
		for o := 0; o <= n; o++ {
			for i := lo; i < hi; i++ {
				if int(p.cands[i].orderIdx) == o {
					out = append(out, p.cands[i])
				}
			}
		}
		lo = hi
	}
	p.spare, p.cands = p.cands, out
}
