package health

import (
	"sync"
	"sync/atomic"
)

// Registry holds the endpoints by key (the router's choice, e.g. provider/model). It
// outlives catalog reloads so an endpoint's breaker and history carry over; endpoints are
// never removed, since one dropped from the catalog costs only its memory and may return.
type Registry struct {
	cfg Config
	// sync.Map rather than a mutex-guarded map: the router looks endpoints up on the request
	// path, and Load is lock-free and, for string keys, allocation-free.
	m sync.Map // string -> *Endpoint
	// epoch counts changes of any endpoint's standing (breaker opened or closed, degraded
	// started or ended), so a router's cached ordering knows when it is out of date.
	epoch atomic.Uint64
}

// Epoch changes whenever an endpoint's breaker opens or closes or it becomes or stops
// being degraded (as far as recordings show; a degraded spell that simply ages out is seen
// at the next recording).
func (r *Registry) Epoch() uint64 { return r.epoch.Load() }

// NewRegistry returns an empty registry; cfg's unset fields take their defaults.
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg.WithDefaults()}
}

// Config is the registry's configuration, defaults applied.
func (r *Registry) Config() Config { return r.cfg }

// Get returns the endpoint for key, creating it on first use. The pointer is the same for
// the registry's life, so callers may keep it.
func (r *Registry) Get(key string) *Endpoint {
	if v, ok := r.m.Load(key); ok {
		return v.(*Endpoint)
	}
	// Racing creators build one endpoint each; LoadOrStore keeps the first and the rest are
	// garbage before anyone could record into them.
	v, _ := r.m.LoadOrStore(key, newEndpoint(&r.cfg, &r.epoch))
	return v.(*Endpoint)
}

// Range calls f for each endpoint until f returns false, in no particular order, e.g. to
// publish every endpoint's Snapshot.
func (r *Registry) Range(f func(key string, e *Endpoint) bool) {
	r.m.Range(func(k, v any) bool { return f(k.(string), v.(*Endpoint)) })
}

// Refresh recomputes every endpoint's cached percentiles (see CachedPercentiles). The node
// calls it every RefreshEvery from a goroutine of its own, so no request pays for walking
// the statistics windows.
func (r *Registry) Refresh(now int64) {
	r.m.Range(func(_, v any) bool {
		v.(*Endpoint).refresh(now)
		return true
	})
}
