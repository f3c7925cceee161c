// Package route owns choosing where a request goes: resolving the requested model (and
// OpenRouter's `models` fallback list) to provider endpoints and trying them in order until
// one answers, failing over only before anything reached the client.
//
// This is the foundation the routing engine grows from: ordering by price, latency and
// health, provider preferences and circuit breakers plug in here.
package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
)

// Router is the terminal pipeline stage: it resolves models and runs the attempts.
type Router struct {
	cat       *catalog.Catalog
	providers map[string]provider.Provider
	log       *slog.Logger
}

var _ pipeline.Handler = (*Router)(nil)

// New returns a router over a catalog and the providers its endpoints name.
func New(cat *catalog.Catalog, providers map[string]provider.Provider, log *slog.Logger) (*Router, error) {
	for _, m := range cat.Models() {
		for _, ep := range m.Endpoints {
			if _, ok := providers[ep.Provider]; !ok {
				return nil, fmt.Errorf("route: model %s names provider %q, which is not configured", m.ID, ep.Provider)
			}
		}
	}
	return &Router{cat: cat, providers: providers, log: log}, nil
}

// Serve tries the requested model, then each model of req.Models, over each of their
// endpoints, until one answers. Errors the client caused (4xx other than 408 and 429) stop
// the search: another provider would refuse the same request.
func (r *Router) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	var last error
	tried := 0
	for i := -1; i < len(req.Models); i++ {
		id := req.Model
		if i >= 0 {
			id = req.Models[i]
			if id == req.Model {
				continue
			}
		} else if id == "" {
			continue
		}
		m, ok := r.cat.Resolve(id)
		if !ok {
			if last == nil {
				last = notFound(id)
			}
			continue
		}
		for _, ep := range m.Endpoints {
			p := r.providers[ep.Provider]
			if p == nil {
				last = notFound(id)
				continue
			}
			tried++
			resp, err := p.Chat(ctx, req, ep.UpstreamID)
			if err == nil {
				resp.Model = m.ID
				resp.Provider = p.DisplayName()
				return resp, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = err
			if !retryable(err) {
				return nil, err
			}
			r.log.LogAttrs(ctx, slog.LevelDebug, "route: attempt failed, trying the next endpoint",
				slog.String("model", m.ID), slog.String("provider", ep.Provider), slog.Any("err", err))
		}
	}
	if last == nil {
		last = llm.BadRequest("model", "no model given: set `model` or `models`")
	}
	return nil, last
}

func notFound(id string) *llm.Error {
	msg := fmt.Sprintf("model %q is not served by this node; GET /v1/models lists the models it serves", id)
	if strings.HasPrefix(id, "openai/") || strings.HasPrefix(id, "gpt-") {
		msg += " (set OPENAI_API_KEY to serve OpenAI models)"
	}
	return &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "model", Message: msg}
}

// retryable reports whether another endpoint might succeed where this one failed.
func retryable(err error) bool {
	var e *llm.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}
