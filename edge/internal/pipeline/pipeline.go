// Package pipeline owns the per-request stage chain: the Handler contract every stage
// implements, the Middleware shape that wraps one stage around the next, and Chain, which
// composes them once per configuration generation rather than per request.
//
// The order of stages is DESIGN.md §2: auth, rate limit, request transforms, cache, route
// and attempts, response transforms, metering. Stages that do not exist yet are simply not
// in the chain.
package pipeline

import (
	"context"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Handler serves one validated chat request.
//
// Serve returns once the response can be relayed: a complete body for a non-streamed call,
// or a stream whose events have not been read yet. It must not write to the client; the
// HTTP layer owns the client connection, so every stage before the first byte can still
// change its mind (fail over, answer from cache). The caller must Close the response.
// Errors are *llm.Error values carrying the status the client should see; a cancelled ctx
// yields ctx's error. req and req.Body must not be modified.
type Handler interface {
	Serve(ctx context.Context, req *llm.Request) (*llm.Response, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *llm.Request) (*llm.Response, error)

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return f(ctx, req)
}

// Middleware wraps a stage around the rest of the chain.
type Middleware func(next Handler) Handler

// Chain builds the handler that runs mws in order, the first outermost, then h.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
