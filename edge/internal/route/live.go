package route

import (
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// Live reports an endpoint's live statistics in the catalog's terms, for the
// /models/{author}/{slug}/endpoints document.
func (r *Router) Live(ep *catalog.Endpoint) catalog.Live {
	if ep.ID < 0 || ep.ID >= len(r.health) {
		return catalog.Live{Circuit: health.Closed.String()}
	}
	s := r.health[ep.ID].Snapshot(time.Now().UnixNano())
	l := catalog.Live{Circuit: s.State.String(), Uptime5m: s.Uptime5m, Uptime30m: s.Uptime30m}
	switch {
	case s.State == health.Open:
		l.Status = -2
	case s.Degraded:
		l.Status = -1
	}
	if s.Latency != nil {
		l.Latency = &catalog.Percentiles{P50: s.Latency.P50, P75: s.Latency.P75, P90: s.Latency.P90, P99: s.Latency.P99}
	}
	if s.Throughput != nil {
		l.Throughput = &catalog.Percentiles{P50: s.Throughput.P50, P75: s.Throughput.P75, P90: s.Throughput.P90, P99: s.Throughput.P99}
	}
	return l
}
