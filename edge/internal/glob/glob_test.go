package glob

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "openai/gpt-4o", true},
		{"openai/*", "openai/gpt-4o", true},
		{"openai/*", "anthropic/claude", false},
		{"*-mini", "openai/gpt-4o-mini", true},
		{"*-mini", "openai/gpt-4o", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact/id", "exact/id", true},
		{"exact/id", "exact/idx", false},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.s, func(t *testing.T) {
			if got := Match(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Match(%q, %q) = %v", tt.pattern, tt.s, got)
			}
		})
	}
}
