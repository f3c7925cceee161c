// Package extension binds WebAssembly plugins (edge/wasmhost) to the node's extension
// points: a route plugin becomes a route.Ranker, transform plugins a pipeline stage, a
// format plugin a provider.Provider. It owns which plugins a configuration generation holds
// (Registry, Set: reference-counted, so a reload never closes a plugin a request still
// uses), the JSON the host and a plugin exchange for each hook (sdk/ABI.md §5) and each
// hook's failure policy.
package extension

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/route"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// Route is a route plugin as a route.Ranker. Its failure policy is the default ranking: a
// plugin that traps, runs out of fuel or time, or answers something that is not a ranking
// leaves the router's own order in place, so a broken plugin costs a log line and a
// counter, never a request.
type Route struct {
	p   *Plugin
	log *slog.Logger
}

var _ route.Ranker = (*Route)(nil)

// NewRoute wraps a loaded plugin that exports hook_route.
func NewRoute(p *Plugin, log *slog.Logger) *Route {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Route{p: p, log: log}
}

// Rank sends the request summary and the candidates with their live stats to the plugin
// and applies its order: listed ids in that order, unlisted candidates dropped, unknown
// ids ignored.
func (r *Route) Rank(ctx context.Context, req *llm.Request, cands []route.Candidate) []route.Candidate {
	in := appendRouteInput(make([]byte, 0, 256+160*len(cands)), req, cands, time.Now().UnixNano())
	out, changed, err := r.p.Call(ctx, wasmhost.HookRoute, in)
	if err != nil {
		r.fail(ctx, "call failed", err)
		return cands
	}
	if !changed {
		return cands
	}
	ranked, ok := applyOrder(out, cands)
	if !ok {
		r.fail(ctx, "answer is not {\"order\":[ids]}", nil)
		return cands
	}
	return ranked
}

func (r *Route) fail(ctx context.Context, msg string, err error) {
	r.p.fail(wasmhost.HookRoute)
	r.log.LogAttrs(ctx, slog.LevelWarn, "extension: route plugin "+msg+"; default ranking used",
		slog.String("plugin", r.p.Info().Name), slog.Any("err", err))
}

// appendRouteInput renders hook_route's input (sdk/ABI.md): prices in USD per million
// tokens, as people write them.
func appendRouteInput(b []byte, req *llm.Request, cands []route.Candidate, now int64) []byte {
	b = append(b, `{"request":{"model":`...)
	b = jsonx.AppendString(b, req.Model)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, req.Stream)
	if req.MaxTokens > 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(req.MaxTokens), 10)
	}
	b = append(b, `,"tools":`...)
	b = strconv.AppendBool(b, req.HasTools)
	b = append(b, `},"candidates":[`...)
	for i := range cands {
		c := &cands[i]
		ep := c.Endpoint
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonx.AppendString(b, ep.Key)
		b = append(b, `,"provider":`...)
		b = jsonx.AppendString(b, ep.Provider)
		b = append(b, `,"model":`...)
		b = jsonx.AppendString(b, c.Model.ID)
		b = append(b, `,"region":`...)
		b = jsonx.AppendString(b, ep.Region)
		b = append(b, `,"price":{"prompt":`...)
		b = strconv.AppendFloat(b, ep.Pricing.Prompt*1e6, 'f', -1, 64)
		b = append(b, `,"completion":`...)
		b = strconv.AppendFloat(b, ep.Pricing.Completion*1e6, 'f', -1, 64)
		b = append(b, `},"ttft_ms":`...)
		b = strconv.AppendFloat(b, float64(c.TTFT.Microseconds())/1000, 'f', -1, 64)
		b = append(b, `,"tokens_per_second":`...)
		b = strconv.AppendFloat(b, finite(c.Throughput), 'f', 2, 64)
		b = append(b, `,"error_rate":`...)
		b = strconv.AppendFloat(b, finite(c.Health.ErrorRate()), 'f', 4, 64)
		b = append(b, `,"degraded":`...)
		b = strconv.AppendBool(b, c.Degraded)
		b = append(b, `,"circuit":`...)
		b = jsonx.AppendString(b, c.Health.State(now).String())
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func finite(f float64) float64 {
	if f != f || f > 1e300 || f < -1e300 {
		return 0
	}
	return f
}

// applyOrder reads {"order":[ids]} and returns the candidates it lists, in its order.
func applyOrder(out []byte, cands []route.Candidate) ([]route.Candidate, bool) {
	if jsonx.KindOfValue(out) != jsonx.KindObject {
		return nil, false
	}
	var order []byte
	it := jsonx.Object(out)
	for it.Next() {
		if m := it.Member(); m.KeyIs("order") {
			order = m.Value
		}
	}
	if it.Err() != nil || jsonx.KindOfValue(order) != jsonx.KindArray {
		return nil, false
	}
	ranked := make([]route.Candidate, 0, len(cands))
	used := make([]bool, len(cands))
	ids := jsonx.Array(order)
	for ids.Next() {
		id, ok := jsonx.Unquote(ids.Value())
		if !ok || jsonx.KindOfValue(ids.Value()) != jsonx.KindString {
			return nil, false
		}
		for i := range cands {
			if !used[i] && cands[i].Endpoint.Key == id {
				used[i] = true
				ranked = append(ranked, cands[i])
				break
			}
		}
	}
	if ids.Err() != nil {
		return nil, false
	}
	return ranked, true
}
