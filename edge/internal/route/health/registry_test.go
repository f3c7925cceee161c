package health

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRegistryGetIsStable(t *testing.T) {
	r := NewRegistry(Config{})
	keys := []string{"openai/gpt-4o", "anthropic/claude", "groq/llama", "together/llama"}
	const goroutines = 64
	got := make([][]*Endpoint, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for _, k := range keys {
				got[g] = append(got[g], r.Get(k))
			}
		})
	}
	close(start)
	wg.Wait()
	for i, k := range keys {
		want := r.Get(k)
		for g := range goroutines {
			if got[g][i] != want {
				t.Fatalf("goroutine %d got a different endpoint for %q", g, k)
			}
		}
	}
	seen := map[*Endpoint]bool{}
	n := 0
	r.Range(func(k string, e *Endpoint) bool {
		if seen[e] || e != r.Get(k) {
			t.Fatalf("Range gave %q a duplicate or foreign endpoint", k)
		}
		seen[e] = true
		n++
		return true
	})
	if n != len(keys) {
		t.Fatalf("Range visited %d endpoints, want %d", n, len(keys))
	}
}

func TestRegistryKeepsStateAcrossGets(t *testing.T) {
	r := NewRegistry(Config{FailuresToOpen: 1})
	r.Get("p/m").Fail(t0, Failure, 0)
	if s := r.Get("p/m").State(t0); s != Open {
		t.Fatalf("state through a second Get = %v, want open", s)
	}
	if s := r.Get("p/other").State(t0); s != Closed {
		t.Fatalf("another key's state = %v, want closed", s)
	}
}

func TestConfigWithDefaults(t *testing.T) {
	def := Config{
		FailuresToOpen:      DefaultFailuresToOpen,
		Cooldown:            DefaultCooldown,
		MaxCooldown:         DefaultMaxCooldown,
		ProbeLease:          DefaultProbeLease,
		DegradedWindow:      DefaultDegradedWindow,
		DegradedMinFailures: DefaultDegradedMinFailures,
		DegradedRatio:       DefaultDegradedRatio,
		StatsWindow:         DefaultStatsWindow,
	}
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero is all defaults", Config{}, def},
		{"negatives are defaults", Config{FailuresToOpen: -1, Cooldown: -1, DegradedRatio: -0.5}, def},
		{"set fields are kept", Config{FailuresToOpen: 2, StatsWindow: time.Hour}, func() Config {
			c := def
			c.FailuresToOpen, c.StatsWindow = 2, time.Hour
			return c
		}()},
		{"cooldown is lowered to its cap", Config{Cooldown: time.Hour, MaxCooldown: time.Minute}, func() Config {
			c := def
			c.Cooldown, c.MaxCooldown = time.Minute, time.Minute
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Fatalf("WithDefaults = %+v, want %+v", got, tt.want)
			}
			if got := NewRegistry(tt.in).Config(); got != tt.want {
				t.Fatalf("Registry.Config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      Config
		wantErr string // substring; "" for valid
	}{
		{"zero is valid", Config{}, ""},
		{"full config is valid", Config{FailuresToOpen: 3, Cooldown: time.Second, MaxCooldown: time.Minute, DegradedRatio: 1, StatsWindow: time.Hour}, ""},
		{"negative count", Config{FailuresToOpen: -1}, "failures_to_open must not be negative"},
		{"negative duration", Config{ProbeLease: -time.Second}, "probe_lease must not be negative"},
		{"ratio above 1", Config{DegradedRatio: 1.5}, "degraded_ratio 1.5 is outside [0, 1]"},
		{"cooldown above cap", Config{Cooldown: 10 * time.Minute}, "cooldown 10m0s exceeds max_cooldown 5m0s"},
		{"stats window under a minute", Config{StatsWindow: time.Second}, "stats_window 1s is shorter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate = nil, want %q", tt.wantErr)
			case err != nil && (!strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "health: validate config: ")):
				t.Fatalf("Validate = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkRegistryGet(b *testing.B) {
	r := NewRegistry(Config{})
	for _, k := range []string{"a/1", "b/2", "c/3", "d/4"} {
		r.Get(k)
	}
	key := strings.Clone("c/3")
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Get(key)
	}
}

func TestEpochMovesOnStandingChanges(t *testing.T) {
	r := NewRegistry(Config{FailuresToOpen: 5, DegradedMinFailures: 3, DegradedRatio: 0.2, Cooldown: time.Second})
	e := r.Get("m@p")
	now := int64(time.Hour)
	steps := []struct {
		name  string
		do    func()
		moved bool
	}{
		{"a success changes nothing", func() { e.FirstByte(now, time.Millisecond) }, false},
		{"two failures are not yet degraded", func() { e.Fail(now, Failure, 0); e.Fail(now, Failure, 0) }, false},
		{"the third makes it degraded", func() { e.Fail(now, Failure, 0) }, true},
		{"still degraded", func() { e.FirstByte(now, time.Millisecond) }, false},
		{"five failures in a row open the breaker", func() {
			for range 5 {
				e.Fail(now, Failure, 0)
			}
		}, true},
		{"past the window and the open period, a success recovers both", func() { now += int64(time.Minute); e.FirstByte(now, time.Millisecond) }, true},
	}
	for _, st := range steps {
		before := r.Epoch()
		st.do()
		if moved := r.Epoch() != before; moved != st.moved {
			t.Fatalf("%s: epoch moved = %v", st.name, moved)
		}
	}
}
