package llm

import (
	"math"
	"testing"
)

func TestPriceCost(t *testing.T) {
	p := Price{Prompt: 2e-6, Completion: 8e-6, CacheRead: 5e-7}
	tests := []struct {
		name string
		u    Usage
		want float64
	}{
		{"plain", Usage{PromptTokens: 100, CompletionTokens: 10}, 100*2e-6 + 10*8e-6},
		{"cached prompt tokens at the cache-read price", Usage{PromptTokens: 100, CachedTokens: 60, CompletionTokens: 10}, 40*2e-6 + 60*5e-7 + 10*8e-6},
		{"cached above prompt is ignored", Usage{PromptTokens: 10, CachedTokens: 60}, 10 * 2e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Cost(tt.u); math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("Cost = %g, want %g", got, tt.want)
			}
		})
	}
}
