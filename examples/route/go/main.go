// Command fastest-healthy is the Go version of the example routing plugin that every SDK
// language implements identically: drop the candidates whose circuit breaker is open and
// try the rest by time to first token, fastest first. Copy this folder to start a plugin.
//
// Build (scripts/build-plugins.sh does this):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags='-s -w' -o plugin.wasm .
package main

import (
	"cmp"
	"slices"

	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/route"
)

// Handlers are registered in init: a wasm reactor runs package inits, never main.
func init() {
	plugin.Describe(plugin.Info{
		Name:        "fastest-healthy",
		Version:     "1.0.0",
		Description: "drops candidates whose circuit is open, fastest time to first token first",
	})
	route.Handle(fastestHealthy)
}

func fastestHealthy(in *route.Input) (*route.Output, error) {
	type pick struct {
		id string
		ms int64 // whole milliseconds: every language's version truncates the same way
	}
	healthy := make([]pick, 0, len(in.Candidates))
	for _, c := range in.Candidates {
		if c.Circuit != route.Open {
			healthy = append(healthy, pick{c.ID, int64(c.TTFTms)})
		}
	}
	// Stable, so ties keep the input order in every language.
	slices.SortStableFunc(healthy, func(a, b pick) int { return cmp.Compare(a.ms, b.ms) })
	out := &route.Output{Order: make([]string, len(healthy))}
	for i, p := range healthy {
		out.Order[i] = p.id
	}
	return out, nil
}

func main() {}
