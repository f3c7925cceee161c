package route

import (
	"context"
	"log/slog"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// ProbeOpen actively checks every endpoint whose breaker has finished its open period and
// waits for a probe: it takes the endpoint's probe slot, asks the provider whether it is
// up, and closes or reopens the breaker. Without it, a half-open endpoint is probed by the
// next client request that reaches it; with it, clients never pay for that probe. Each
// provider is asked once per call, however many endpoints it serves.
func (r *Router) ProbeOpen(ctx context.Context, timeout time.Duration) {
	now := time.Now().UnixNano()
	results := map[string]error{} // by provider slug
	for i, h := range r.health {
		if h.State(now) != health.HalfOpen {
			continue
		}
		pr, ok := r.adapters[i].(provider.Prober)
		if !ok || !h.Admit(now) {
			continue
		}
		slug := r.cat.Endpoints()[i].Provider
		err, done := results[slug]
		if !done {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			err = pr.Probe(pctx)
			cancel()
			if ctx.Err() != nil {
				h.ReleaseProbe()
				return
			}
			results[slug] = err
		}
		h.ActiveProbe(time.Now().UnixNano(), err == nil)
		r.log.LogAttrs(ctx, slog.LevelInfo, "route: active probe", slog.String("endpoint", r.cat.Endpoints()[i].Key),
			slog.Bool("up", err == nil), slog.Any("err", err))
	}
}
