package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

func TestChainOrder(t *testing.T) {
	var trace []string
	stage := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				trace = append(trace, name+">")
				resp, err := next.Serve(ctx, req)
				trace = append(trace, "<"+name)
				return resp, err
			})
		}
	}
	final := HandlerFunc(func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		trace = append(trace, "final")
		return &llm.Response{Model: req.Model}, nil
	})
	h := Chain(final, stage("a"), stage("b"))
	resp, err := h.Serve(context.Background(), &llm.Request{Model: "m"})
	if err != nil || resp.Model != "m" {
		t.Fatalf("Serve = %+v, %v", resp, err)
	}
	if got := strings.Join(trace, " "); got != "a> b> final <b <a" {
		t.Fatalf("order = %q", got)
	}
	if Chain(final) == nil {
		t.Fatal("empty chain is nil")
	}
}
