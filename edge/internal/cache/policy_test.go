package cache

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

func TestDecide(t *testing.T) {
	// Whether the request is deterministic (temperature 0 or a seed) is the decoder's to
	// say (llm.Request.Deterministic); here it is an input.
	const (
		hot    = false
		cold   = true
		seeded = true
		plain  = false
	)
	on := Decision{Lookup: true, Store: true, TTL: DefaultTTL}
	tests := []struct {
		name   string
		det    bool
		hdr    map[string]string
		def    Defaults
		want   Decision
		status int // of the error, 0 for none
	}{
		{"sampled request is not cached", hot, nil, Defaults{}, Decision{}, 0},
		{"no temperature is not deterministic", plain, nil, Defaults{}, Decision{}, 0},
		{"temperature 0", cold, nil, Defaults{}, on, 0},
		{"a seed", seeded, nil, Defaults{}, on, 0},
		{"opt in", hot, map[string]string{HeaderCache: "true"}, Defaults{}, on, 0},
		{"OpenRouter's opt in", hot, map[string]string{HeaderOpenRouter: "true"}, Defaults{}, on, 0},
		{"configured opt in", hot, nil, Defaults{OptIn: true}, on, 0},
		{"opt out of a deterministic request", cold, map[string]string{HeaderCache: "false"}, Defaults{}, Decision{}, 0},
		{"configured ttl", cold, nil, Defaults{TTL: time.Hour}, Decision{Lookup: true, Store: true, TTL: time.Hour}, 0},
		{"header ttl beats configured", cold, map[string]string{HeaderTTL: "60"}, Defaults{TTL: time.Hour}, Decision{Lookup: true, Store: true, TTL: time.Minute}, 0},
		{"ttl", cold, map[string]string{HeaderTTL: "60"}, Defaults{}, Decision{Lookup: true, Store: true, TTL: time.Minute}, 0},
		{"no-cache skips the lookup", cold, map[string]string{"Cache-Control": "no-cache"}, Defaults{}, Decision{Store: true, TTL: DefaultTTL}, 0},
		{"no-store skips the write", cold, map[string]string{"Cache-Control": "max-age=0, No-Store"}, Defaults{}, Decision{Lookup: true, TTL: DefaultTTL}, 0},
		{"clear", cold, map[string]string{HeaderClear: "true"}, Defaults{}, Decision{Lookup: true, Store: true, Clear: true, TTL: DefaultTTL}, 0},
		{"clear alone", hot, map[string]string{HeaderClear: "true"}, Defaults{}, Decision{Clear: true}, 0},
		{"ttl zero", cold, map[string]string{HeaderTTL: "0"}, Defaults{}, Decision{}, 400},
		{"ttl too long", cold, map[string]string{HeaderTTL: "86401"}, Defaults{}, Decision{}, 400},
		{"ttl not a number", cold, map[string]string{HeaderTTL: "5m"}, Defaults{}, Decision{}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.hdr {
				h.Set(k, v)
			}
			got, err := Decide(tt.det, h, tt.def)
			if tt.status != 0 {
				var e *llm.Error
				if !errors.As(err, &e) || e.Status != tt.status {
					t.Fatalf("err = %v, want status %d", err, tt.status)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Decide = %+v, %v; want %+v", got, err, tt.want)
			}
			if got.Cacheable() != (tt.want != Decision{}) {
				t.Fatalf("Cacheable = %v", got.Cacheable())
			}
		})
	}
}
