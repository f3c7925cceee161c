package health

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is a realistic clock start, aligned to a minute so window tests know where slots begin.
var t0 = (int64(1_700_000_000) * int64(time.Second) / minute) * minute

const ms = int64(time.Millisecond)

func newTestEndpoint(cfg Config) *Endpoint { return NewRegistry(cfg).Get("p/m") }

// tripped returns an endpoint whose breaker opened at t0 after FailuresToOpen failures, and
// the time its half-open period starts.
func tripped(t *testing.T) (*Endpoint, int64) {
	t.Helper()
	e := newTestEndpoint(Config{})
	for range DefaultFailuresToOpen {
		e.Fail(t0, Failure, 0)
	}
	if got := e.State(t0); got != Open {
		t.Fatalf("setup: state %v, want open", got)
	}
	return e, t0 + int64(DefaultCooldown)
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	const (
		F = iota // Failure
		L        // RateLimited without Retry-After
		C        // ClientError
		S        // success (FirstByte)
	)
	tests := []struct {
		name   string
		events []int
		want   State
	}{
		{"N failures open", []int{F, F, F, F, F}, Open},
		{"N-1 failures stay closed", []int{F, F, F, F}, Closed},
		{"N-1 then a success then one more stay closed", []int{F, F, F, F, S, F}, Closed},
		{"a success resets the count", []int{F, F, F, S, F, F, F, F}, Closed},
		{"429s without Retry-After count", []int{L, L, L, L, L}, Open},
		{"failures and 429s count together", []int{F, L, F, L, F}, Open},
		{"client errors are invisible to the count", []int{F, F, C, F, F, C, F}, Open},
		{"client errors alone never open", []int{C, C, C, C, C, C, C, C}, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			now := t0
			for _, ev := range tt.events {
				now += ms
				switch ev {
				case F:
					e.Fail(now, Failure, 0)
				case L:
					e.Fail(now, RateLimited, 0)
				case C:
					e.Fail(now, ClientError, 0)
				case S:
					e.FirstByte(now, 100*time.Millisecond)
				}
			}
			if got := e.State(now); got != tt.want {
				t.Fatalf("state %v, want %v", got, tt.want)
			}
			if got := e.Admit(now); got != (tt.want == Closed) {
				t.Fatalf("Admit %v in state %v", got, tt.want)
			}
			if tt.want == Open {
				if got, want := e.OpenUntil(), now+int64(DefaultCooldown); got != want {
					t.Fatalf("OpenUntil %d, want now+cooldown %d", got, want)
				}
				if e.State(now+int64(DefaultCooldown)) != HalfOpen {
					t.Fatal("not half-open once the cooldown passed")
				}
			} else if e.OpenUntil() != 0 {
				t.Fatalf("OpenUntil %d on a breaker that never opened", e.OpenUntil())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name      string
		before    time.Duration // a 429 with this Retry-After at t0-1s, if > 0
		retry     time.Duration
		wantUntil int64 // 0: stays closed
	}{
		{"opens until exactly now+Retry-After", 0, 7 * time.Second, t0 + 7*int64(time.Second)},
		{"capped at MaxCooldown", 0, time.Hour, t0 + int64(DefaultMaxCooldown)},
		{"does not shorten a longer open period", time.Minute, 2 * time.Second, t0 - int64(time.Second) + int64(time.Minute)},
		{"extends a shorter open period", 2 * time.Second, time.Minute, t0 + int64(time.Minute)},
		{"without Retry-After it is only a failure", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			if tt.before > 0 {
				e.Fail(t0-int64(time.Second), RateLimited, tt.before)
			}
			e.Fail(t0, RateLimited, tt.retry)
			if got := e.OpenUntil(); got != tt.wantUntil {
				t.Fatalf("OpenUntil %d, want %d (off by %v)", got, tt.wantUntil, time.Duration(got-tt.wantUntil))
			}
			if tt.wantUntil == 0 {
				if e.State(t0) != Closed {
					t.Fatalf("state %v, want closed", e.State(t0))
				}
				return
			}
			if s := e.State(tt.wantUntil - 1); s != Open {
				t.Fatalf("state just before OpenUntil %v, want open", s)
			}
			if s := e.State(tt.wantUntil); s != HalfOpen {
				t.Fatalf("state at OpenUntil %v, want half_open", s)
			}
		})
	}
}

func TestHalfOpenAdmitsExactlyOneProbe(t *testing.T) {
	e, h := tripped(t)
	for round := range 200 {
		var (
			admitted atomic.Int64
			start    = make(chan struct{})
			wg       sync.WaitGroup
		)
		for range 50 {
			wg.Go(func() {
				<-start
				if e.Admit(h) {
					admitted.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := admitted.Load(); n != 1 {
			t.Fatalf("round %d: %d callers admitted, want exactly 1", round, n)
		}
		e.ReleaseProbe()
	}
}

func TestProbe(t *testing.T) {
	sec := int64(time.Second)
	lease := int64(DefaultProbeLease)
	tests := []struct {
		name string
		run  func(t *testing.T, e *Endpoint, h int64)
	}{
		{"success closes", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			e.FirstByte(h, 50*time.Millisecond)
			mustState(t, e, h, Closed)
			mustAdmit(t, e, h, true)
			mustAdmit(t, e, h, true)
			if e.OpenUntil() != h {
				t.Fatalf("OpenUntil %d after closing, want the last period's end %d", e.OpenUntil(), h)
			}
		}},
		{"failure reopens with cooldown doubled", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			e.Fail(h+sec, Failure, 0)
			mustState(t, e, h+sec, Open)
			mustUntil(t, e, h+sec+20*sec)
		}},
		{"failures double cooldown up to the cap", func(t *testing.T, e *Endpoint, h int64) {
			now := h
			for _, want := range []int64{20, 40, 80, 160, 300, 300} {
				mustAdmit(t, e, now, true)
				e.Fail(now, Failure, 0)
				mustUntil(t, e, now+want*sec)
				now += want * sec
			}
		}},
		{"success resets the cooldown", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			e.Fail(h, Failure, 0) // cooldown 20s
			h2 := h + 20*sec
			mustAdmit(t, e, h2, true)
			e.FirstByte(h2, 50*time.Millisecond)
			for range DefaultFailuresToOpen {
				e.Fail(h2+sec, Failure, 0)
			}
			mustUntil(t, e, h2+sec+int64(DefaultCooldown))
		}},
		{"429 probe with Retry-After reopens for it", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			e.Fail(h, RateLimited, 3*time.Second)
			mustUntil(t, e, h+3*sec)
			// The probe failed, so the cooldown doubled all the same.
			mustAdmit(t, e, h+3*sec, true)
			e.Fail(h+3*sec, Failure, 0)
			mustUntil(t, e, h+3*sec+40*sec)
		}},
		{"client error frees the slot without penalty", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			mustAdmit(t, e, h, false)
			e.Fail(h+sec, ClientError, 0)
			mustState(t, e, h+sec, HalfOpen)
			mustUntil(t, e, h)
			mustAdmit(t, e, h+sec, true)
		}},
		{"ReleaseProbe lets another caller probe", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			mustAdmit(t, e, h, false)
			e.ReleaseProbe()
			mustAdmit(t, e, h, true)
			mustAdmit(t, e, h, false)
		}},
		{"an expired lease passes to the next caller", func(t *testing.T, e *Endpoint, h int64) {
			mustAdmit(t, e, h, true)
			mustAdmit(t, e, h+lease-1, false)
			mustAdmit(t, e, h+lease, true)
			mustAdmit(t, e, h+lease, false)
		}},
		{"a success while open does not close early", func(t *testing.T, e *Endpoint, h int64) {
			e.FirstByte(h-1, 50*time.Millisecond)
			mustState(t, e, h-1, Open)
			mustState(t, e, h, HalfOpen)
		}},
		{"a failure while open changes nothing", func(t *testing.T, e *Endpoint, h int64) {
			e.Fail(h-1, Failure, 0)
			mustUntil(t, e, h)
			mustAdmit(t, e, h, true)
			e.FirstByte(h, 50*time.Millisecond)
			mustState(t, e, h, Closed)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, h := tripped(t)
			mustState(t, e, h-1, Open)
			mustAdmit(t, e, h-1, false)
			mustState(t, e, h, HalfOpen)
			tt.run(t, e, h)
		})
	}
}

func mustAdmit(t *testing.T, e *Endpoint, now int64, want bool) {
	t.Helper()
	if got := e.Admit(now); got != want {
		t.Fatalf("Admit at +%v = %v, want %v (state %v)", time.Duration(now-t0), got, want, e.State(now))
	}
}

func mustState(t *testing.T, e *Endpoint, now int64, want State) {
	t.Helper()
	if got := e.State(now); got != want {
		t.Fatalf("state at +%v = %v, want %v", time.Duration(now-t0), got, want)
	}
}

func mustUntil(t *testing.T, e *Endpoint, want int64) {
	t.Helper()
	if got := e.OpenUntil(); got != want {
		t.Fatalf("OpenUntil +%v, want +%v", time.Duration(got-t0), time.Duration(want-t0))
	}
}

func TestClientErrorIsNeutral(t *testing.T) {
	e := newTestEndpoint(Config{})
	for i := range 100 {
		e.Fail(t0+int64(i)*ms, ClientError, 0)
	}
	now := t0 + 100*ms
	s := e.Snapshot(now)
	if s.State != Closed || s.Degraded || s.Requests != 0 || s.ErrorRate != 0 || s.Uptime5m != nil {
		t.Fatalf("client errors changed the endpoint: %+v", s)
	}
}

func TestDegraded(t *testing.T) {
	// Aligned to a sub-bucket so the window's edge is exact: samples count until t+30s.
	w := int64(DefaultDegradedWindow) / degradedSubWindows
	base := t0 / w * w
	sec := int64(time.Second)
	tests := []struct {
		name     string
		ok, fail int
		outcome  Outcome
		at       int64 // when to ask, after base
		want     bool
	}{
		{"3 failures of 10", 7, 3, Failure, 0, true},
		{"3 429s of 10", 7, 3, RateLimited, 0, true},
		{"2 failures of 10: below the minimum", 8, 2, Failure, 0, false},
		{"3 failures of 20: below the ratio", 17, 3, Failure, 0, false},
		{"3 failures of 15: ratio exactly met", 12, 3, Failure, 0, true},
		{"still on just inside the window", 7, 3, Failure, 29 * sec, true},
		{"off once the window has passed", 7, 3, Failure, 30 * sec, false},
		{"client errors never degrade", 0, 10, ClientError, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			for range tt.ok {
				e.FirstByte(base, 100*time.Millisecond)
			}
			for range tt.fail {
				e.Fail(base, tt.outcome, 0)
			}
			if got := e.Degraded(base + tt.at); got != tt.want {
				t.Fatalf("Degraded = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUptime(t *testing.T) {
	tests := []struct {
		name        string
		old         map[Outcome]int // recorded 10 minutes ago
		now         map[Outcome]int // recorded now (Success via FirstByte)
		want5, want int             // percent; -1: nil
		requests    int64
	}{
		{"429s excluded", nil, map[Outcome]int{Success: 10, RateLimited: 10}, 100, 100, 20},
		{"failures count", nil, map[Outcome]int{Success: 9, Failure: 1}, 90, 90, 10},
		{"client errors excluded", nil, map[Outcome]int{Success: 10, ClientError: 5}, 100, 100, 10},
		{"nil under 10 requests", nil, map[Outcome]int{Success: 9, RateLimited: 20}, -1, -1, 29},
		{"5m sees only recent minutes", map[Outcome]int{Failure: 10}, map[Outcome]int{Success: 10}, 100, 50, 20},
		{"old failures alone leave 5m nil", map[Outcome]int{Failure: 10}, nil, -1, 0, 10},
	}
	record := func(e *Endpoint, at int64, m map[Outcome]int) {
		for o, n := range m {
			for range n {
				if o == Success {
					e.FirstByte(at, 100*time.Millisecond)
				} else {
					e.Fail(at, o, 0)
				}
			}
		}
	}
	check := func(t *testing.T, name string, got *float64, want int) {
		t.Helper()
		switch {
		case want < 0 && got != nil:
			t.Fatalf("%s = %v, want nil", name, *got)
		case want >= 0 && got == nil:
			t.Fatalf("%s = nil, want %d", name, want)
		case want >= 0 && math.Abs(*got-float64(want)) > 1e-9:
			t.Fatalf("%s = %v, want %d", name, *got, want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			now := t0 + 15*minute
			record(e, now-10*minute, tt.old)
			record(e, now, tt.now)
			s := e.Snapshot(now)
			check(t, "Uptime5m", s.Uptime5m, tt.want5)
			check(t, "Uptime30m", s.Uptime30m, tt.want)
			if s.Requests != tt.requests {
				t.Fatalf("Requests = %d, want %d", s.Requests, tt.requests)
			}
		})
	}
}

// bucketFactor is the histogram's worst-case ratio between an estimate and the true value.
var bucketFactor = math.Pow(10, 1.0/histPerDecade)

func TestPercentiles(t *testing.T) {
	e := newTestEndpoint(Config{})
	now := t0
	// TTFT 1..1000ms and throughput 1..1000 tok/s, uniformly, shuffled across two minutes.
	r := rand.New(rand.NewPCG(1, 2))
	for _, i := range r.Perm(1000) {
		v := int64(i + 1)
		at := now + int64(i%2)*minute
		e.FirstByte(at, time.Duration(v)*time.Millisecond)
		e.Done(at, time.Second, v)
	}
	now += minute
	s := e.Snapshot(now)
	if s.Latency == nil || s.Throughput == nil {
		t.Fatalf("percentiles missing: %+v", s)
	}
	tests := []struct {
		name   string
		q      float64
		want   float64
		ttftMs float64
		tput   float64
	}{
		{"p50", 0.50, 500, s.Latency.P50, s.Throughput.P50},
		{"p75", 0.75, 750, s.Latency.P75, s.Throughput.P75},
		{"p90", 0.90, 900, s.Latency.P90, s.Throughput.P90},
		{"p99", 0.99, 990, s.Latency.P99, s.Throughput.P99},
	}
	within := func(got, want float64) bool { return got <= want*bucketFactor && got >= want/bucketFactor }
	if p, ok := e.TTFTPercentiles(now); !ok || p != *s.Latency {
		t.Errorf("TTFTPercentiles = %+v, %v; Snapshot says %+v", p, ok, *s.Latency)
	}
	if p, ok := e.ThroughputPercentiles(now); !ok || p != *s.Throughput {
		t.Errorf("ThroughputPercentiles = %+v, %v; Snapshot says %+v", p, ok, *s.Throughput)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !within(tt.ttftMs, tt.want) {
				t.Errorf("latency %s = %.1fms, want %v within ×%.3f", tt.name, tt.ttftMs, tt.want, bucketFactor)
			}
			if !within(tt.tput, tt.want) {
				t.Errorf("throughput %s = %.1f, want %v within ×%.3f", tt.name, tt.tput, tt.want, bucketFactor)
			}
			q := float64(e.TTFTQuantile(now, tt.q)) / float64(time.Millisecond)
			if math.Abs(q-tt.ttftMs) > 1e-6 {
				t.Errorf("TTFTQuantile %s = %vms, Snapshot says %vms", tt.name, q, tt.ttftMs)
			}
			if q := e.ThroughputQuantile(now, tt.q); math.Abs(q-tt.tput) > 1e-9 {
				t.Errorf("ThroughputQuantile %s = %v, Snapshot says %v", tt.name, q, tt.tput)
			}
		})
	}
}

func TestQuantileBuckets(t *testing.T) {
	tests := []struct {
		name string
		v    float64 // every sample has this value (ms)
		q    float64
		lo   float64 // the estimate must be within [lo, hi]
		hi   float64
	}{
		{"mid-scale value", 123, 0.5, 123 / bucketFactor, 123 * bucketFactor},
		{"exact bucket bound", 10, 0.9, 10, 10 * bucketFactor},
		{"underflow interpolates from zero", 0.2, 0.5, 0, ttftLowMillis},
		{"overflow reports the scale's top", 1e9, 0.5, 1e6 / bucketFactor, 1e6},
		{"q below 0 clamps", 50, -1, 50 / bucketFactor, 50 * bucketFactor},
		{"q above 1 clamps", 50, 2, 50 / bucketFactor, 50 * bucketFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c [histBuckets]uint64
			c[bucketOf(tt.v, ttftLowMillis)] = 100
			got := quantile(&c, 100, tt.q, ttftLowMillis)
			if got < tt.lo || got > tt.hi {
				t.Fatalf("quantile = %v, want in [%v, %v]", got, tt.lo, tt.hi)
			}
		})
	}
}

func TestSampleThresholds(t *testing.T) {
	tests := []struct {
		name          string
		samples       int
		wantQuantile  bool // TTFTQuantile non-zero (20+)
		wantSnapshots bool // Latency/Throughput non-nil (5+)
	}{
		{"none", 0, false, false},
		{"4", 4, false, false},
		{"5", 5, false, true},
		{"19", 19, false, true},
		{"20", 20, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			for range tt.samples {
				e.FirstByte(t0, 200*time.Millisecond)
				e.Done(t0, time.Second, 100)
			}
			if got := e.TTFTQuantile(t0, 0.5) != 0; got != tt.wantQuantile {
				t.Errorf("TTFTQuantile non-zero = %v, want %v", got, tt.wantQuantile)
			}
			if got := e.ThroughputQuantile(t0, 0.5) != 0; got != tt.wantQuantile {
				t.Errorf("ThroughputQuantile non-zero = %v, want %v", got, tt.wantQuantile)
			}
			if _, ok := e.TTFTPercentiles(t0); ok != tt.wantQuantile {
				t.Errorf("TTFTPercentiles ok = %v, want %v", ok, tt.wantQuantile)
			}
			if _, ok := e.ThroughputPercentiles(t0); ok != tt.wantQuantile {
				t.Errorf("ThroughputPercentiles ok = %v, want %v", ok, tt.wantQuantile)
			}
			s := e.Snapshot(t0)
			if got := s.Latency != nil; got != tt.wantSnapshots {
				t.Errorf("Latency present = %v, want %v", got, tt.wantSnapshots)
			}
			if got := s.Throughput != nil; got != tt.wantSnapshots {
				t.Errorf("Throughput present = %v, want %v", got, tt.wantSnapshots)
			}
		})
	}
}

func TestStaleSlots(t *testing.T) {
	window := int64(DefaultStatsWindow)
	tests := []struct {
		name     string
		first    int64 // 20 samples at t0+first
		second   int64 // then 1 sample at t0+second, if >= 0
		at       int64 // Snapshot at t0+at
		requests int64
	}{
		{"inside the window", 0, -1, window - minute, 20},
		{"gone once the window rolls", 0, -1, window, 0},
		{"a reused slot is cleared first", 0, window, window, 1},
		{"a sample older than its slot is dropped", window, 0, window, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			for range 20 {
				e.FirstByte(t0+tt.first, 100*time.Millisecond)
			}
			if tt.second >= 0 {
				e.FirstByte(t0+tt.second, 100*time.Millisecond)
			}
			s := e.Snapshot(t0 + tt.at)
			if s.Requests != tt.requests {
				t.Fatalf("Requests = %d, want %d", s.Requests, tt.requests)
			}
			if tt.requests < snapshotMinSamples && s.Latency != nil {
				t.Fatalf("Latency from stale slots: %+v", *s.Latency)
			}
			if q := e.TTFTQuantile(t0+tt.at, 0.5); (tt.requests >= quantileMinSamples) != (q != 0) {
				t.Fatalf("TTFTQuantile = %v with %d requests in the window", q, tt.requests)
			}
		})
	}
}

func TestEWMA(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *Endpoint)
		get  func(e *Endpoint) float64
		want float64
	}{
		{"TTFT is 0 before a sample", func(*Endpoint) {}, func(e *Endpoint) float64 { return float64(e.TTFT()) }, 0},
		{"TTFT first sample initialises", func(e *Endpoint) { e.FirstByte(t0, 100*time.Millisecond) },
			func(e *Endpoint) float64 { return float64(e.TTFT()) }, float64(100 * time.Millisecond)},
		{"TTFT moves by alpha", func(e *Endpoint) {
			e.FirstByte(t0, 100*time.Millisecond)
			e.FirstByte(t0, 200*time.Millisecond)
		}, func(e *Endpoint) float64 { return float64(e.TTFT()) }, float64(120 * time.Millisecond)},
		{"throughput first sample initialises", func(e *Endpoint) { e.Done(t0, 2*time.Second, 100) },
			func(e *Endpoint) float64 { return e.Throughput() }, 50},
		{"throughput ignores spans under 1ms", func(e *Endpoint) { e.Done(t0, time.Millisecond-1, 100) },
			func(e *Endpoint) float64 { return e.Throughput() }, 0},
		{"throughput ignores zero tokens", func(e *Endpoint) { e.Done(t0, time.Second, 0) },
			func(e *Endpoint) float64 { return e.Throughput() }, 0},
		{"error rate first failure is 1", func(e *Endpoint) { e.Fail(t0, Failure, 0) },
			func(e *Endpoint) float64 { return e.ErrorRate() }, 1},
		{"error rate first success is 0, then a 429 moves it by alpha", func(e *Endpoint) {
			e.FirstByte(t0, time.Millisecond)
			e.Fail(t0, RateLimited, 0)
		}, func(e *Endpoint) float64 { return e.ErrorRate() }, alphaErr},
		{"error rate ignores client errors", func(e *Endpoint) { e.Fail(t0, ClientError, 0) },
			func(e *Endpoint) float64 { return e.ErrorRate() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEndpoint(Config{})
			tt.run(e)
			if got := tt.get(e); math.Abs(got-tt.want) > 1e-9*math.Max(1, math.Abs(tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInflight(t *testing.T) {
	e := newTestEndpoint(Config{})
	e.Begin()
	e.Begin()
	e.End()
	if got := e.Inflight(); got != 1 {
		t.Fatalf("Inflight = %d, want 1", got)
	}
	if got := e.Snapshot(t0).Inflight; got != 1 {
		t.Fatalf("Snapshot.Inflight = %d, want 1", got)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"closed", Closed.String(), "closed"},
		{"open", Open.String(), "open"},
		{"half open", HalfOpen.String(), "half_open"},
		{"unknown state", State(9).String(), "unknown"},
		{"success", Success.String(), "success"},
		{"failure", Failure.String(), "failure"},
		{"rate limited", RateLimited.String(), "rate_limited"},
		{"client error", ClientError.String(), "client_error"},
		{"unknown outcome", Outcome(9).String(), "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestNoAllocs(t *testing.T) {
	e := newTestEndpoint(Config{})
	for i := range 50 {
		e.FirstByte(t0, time.Duration(i+1)*time.Millisecond)
		e.Done(t0, time.Second, int64(i+1))
	}
	half, h := tripped(t)
	now := t0
	tests := []struct {
		name string
		f    func()
	}{
		{"State", func() { _ = e.State(now) }},
		{"Admit closed", func() { _ = e.Admit(now) }},
		{"Admit half-open", func() { _ = half.Admit(h); half.ReleaseProbe() }},
		{"Degraded", func() { _ = e.Degraded(now) }},
		{"TTFT", func() { _ = e.TTFT() }},
		{"Throughput", func() { _ = e.Throughput() }},
		{"ErrorRate", func() { _ = e.ErrorRate() }},
		{"Inflight", func() { _ = e.Inflight() }},
		{"TTFTQuantile", func() { _ = e.TTFTQuantile(now, 0.9) }},
		{"ThroughputQuantile", func() { _ = e.ThroughputQuantile(now, 0.1) }},
		{"TTFTPercentiles", func() { _, _ = e.TTFTPercentiles(now) }},
		{"ThroughputPercentiles", func() { _, _ = e.ThroughputPercentiles(now) }},
		{"FirstByte+Done", func() { e.Begin(); e.FirstByte(now, time.Second); e.Done(now, time.Second, 100); e.End() }},
		{"Fail", func() { half.Fail(h-1, Failure, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Fatalf("%v allocations per call, want 0", n)
			}
		})
	}
}

// TestHammer records and reads from many goroutines at once with a shared moving clock, for
// the race detector and for invariants that must survive any interleaving.
func TestHammer(t *testing.T) {
	r := NewRegistry(Config{FailuresToOpen: 3, Cooldown: 50 * time.Millisecond, ProbeLease: 100 * time.Millisecond})
	keys := []string{"a/x", "b/x"}
	var clock atomic.Int64
	clock.Store(t0)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 3000 {
				now := clock.Add(int64(rng.IntN(int(20 * time.Millisecond))))
				e := r.Get(keys[rng.IntN(len(keys))])
				switch rng.IntN(6) {
				case 0, 1, 2:
					if !e.Admit(now) {
						continue
					}
					e.Begin()
					switch rng.IntN(5) {
					case 0:
						e.Fail(now, Failure, 0)
					case 1:
						e.Fail(now, RateLimited, time.Duration(rng.IntN(3))*time.Second)
					case 2:
						e.Fail(now, ClientError, 0)
					default:
						e.FirstByte(now, time.Duration(rng.IntN(2000)+1)*time.Millisecond)
						e.Done(now, time.Duration(rng.IntN(5000)+1)*time.Millisecond, int64(rng.IntN(500)))
					}
					e.End()
				case 3:
					_, _, _ = e.State(now), e.Degraded(now), e.TTFTQuantile(now, 0.5)
					_, _, _ = e.TTFT(), e.Throughput(), e.ErrorRate()
				case 4:
					if e.Admit(now) && e.State(now) == HalfOpen {
						e.ReleaseProbe()
					}
				case 5:
					s := e.Snapshot(now)
					if s.ErrorRate < 0 || s.ErrorRate > 1 {
						t.Errorf("error rate %v out of [0,1]", s.ErrorRate)
					}
					if s.Uptime30m != nil && (*s.Uptime30m < 0 || *s.Uptime30m > 100) {
						t.Errorf("uptime %v out of [0,100]", *s.Uptime30m)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		if n := r.Get(k).Inflight(); n != 0 {
			t.Errorf("%s: Inflight %d after every attempt ended", k, n)
		}
	}
}

func BenchmarkHotReads(b *testing.B) {
	e := newTestEndpoint(Config{})
	for i := range 100 {
		e.FirstByte(t0, time.Duration(i+1)*time.Millisecond)
		e.Done(t0, time.Second, 100)
	}
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		if e.State(t0) == Closed && e.Admit(t0) && !e.Degraded(t0) {
			sink += float64(e.TTFT()) + e.Throughput() + e.ErrorRate()
		}
	}
	_ = sink
}

// BenchmarkWindowReads measures the reads that walk a full 30-minute stats window.
func BenchmarkWindowReads(b *testing.B) {
	e := newTestEndpoint(Config{})
	for m := range int64(30) {
		for i := range 100 {
			e.FirstByte(t0+m*minute, time.Duration(i+1)*time.Millisecond)
		}
	}
	now := t0 + 29*minute
	b.Run("TTFTQuantile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = e.TTFTQuantile(now, 0.9)
		}
	})
	b.Run("TTFTPercentiles", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = e.TTFTPercentiles(now)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	b.Run("FirstByte+Done", func(b *testing.B) {
		e := newTestEndpoint(Config{})
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now += int64(time.Microsecond)
			e.Begin()
			e.FirstByte(now, 300*time.Millisecond)
			e.Done(now, 2*time.Second, 200)
			e.End()
		}
	})
	b.Run("Fail", func(b *testing.B) {
		e := newTestEndpoint(Config{})
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now += int64(time.Microsecond)
			e.Begin()
			e.Fail(now, Failure, 0)
			e.End()
		}
	})
}

func BenchmarkRecordParallel(b *testing.B) {
	// FailuresToOpen is out of reach so every attempt takes the full recording path; the
	// wall clock, as in production, keeps a shared test clock's contention out of the numbers.
	e := newTestEndpoint(Config{FailuresToOpen: 1 << 30})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			now := Now()
			e.Begin()
			if i%10 == 0 {
				e.Fail(now, Failure, 0)
			} else {
				e.FirstByte(now, 300*time.Millisecond)
				e.Done(now, 2*time.Second, 200)
			}
			e.End()
			i++
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	e := newTestEndpoint(Config{})
	for m := range int64(30) {
		for i := range 100 {
			e.FirstByte(t0+m*minute, time.Duration(i+1)*time.Millisecond)
			e.Done(t0+m*minute, time.Second, int64(i+1))
		}
	}
	now := t0 + 29*minute
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Snapshot(now)
	}
}
