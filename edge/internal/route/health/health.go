// Package health owns the router's live view of each upstream endpoint: a circuit breaker
// (closed, open for a cooldown or a Retry-After, half-open with a single probe), a short
// "degraded" window of recent failures, EWMAs of time to first byte, throughput and error
// rate, and per-minute histograms for latency and throughput percentiles and uptime.
//
// The router consults and records these on every attempt, so that path is lock-free
// (atomics and CAS, never a mutex) and allocation-free; of what the router calls, only
// Snapshot and the first Registry.Get of a key allocate. Time is always passed in as unix nanoseconds (positive), so
// callers and tests own the clock; the package reads the wall clock only in Now.
//
// Each attempt records: Begin, then exactly one of FirstByte or Fail, then Done if a
// generation completed, then End.
package health

import (
	"math"
	"sync/atomic"
	"time"
)

// Now is the current time in the unit every method takes, for callers' convenience.
func Now() int64 { return time.Now().UnixNano() }

// Outcome classifies a failed attempt for Fail.
type Outcome uint8

const (
	Success     Outcome = iota // not used by Fail (it ignores it); FirstByte records success
	Failure                    // 5xx, connection error, timeout, malformed answer: counts against uptime and the breaker
	RateLimited                // 429: counts toward the breaker and degraded, not against uptime (as OpenRouter's uptime)
	ClientError                // 4xx the client caused: not held against the endpoint; ends a half-open probe without penalty
)

// String names the outcome for logs and metrics labels.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case RateLimited:
		return "rate_limited"
	case ClientError:
		return "client_error"
	}
	return "unknown"
}

// State is the circuit breaker's state at a given time.
type State uint8

const (
	Closed   State = iota // traffic flows
	Open                  // no traffic until OpenUntil
	HalfOpen              // the open period is over; one probe at a time until one succeeds
)

// String names the state as it appears in stats output.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "unknown"
}

// EWMA weights. Error rate follows the brief's ~0.1 (about the last 10 attempts), so one
// failure moves it but does not dominate. TTFT and throughput use 0.2 because each sample is
// a whole request on one endpoint and samples are sparse; routing by speed should follow a
// change within a handful of requests.
const (
	alphaErr  = 0.1
	alphaTTFT = 0.2
	alphaTput = 0.2
)

// Endpoint holds one upstream endpoint's breaker and statistics. Obtain it from a Registry;
// all methods are safe for concurrent use.
type Endpoint struct {
	cfg *Config // the registry's, read-only

	// trip is the breaker in one word, so every state read is a single load and every
	// transition a single CAS: > 0 is the open-until time (Open before it, HalfOpen from it
	// on); <= 0 is Closed, holding minus the last open-until (0: never opened).
	trip atomic.Int64
	// probe is the lease expiry of the half-open probe slot; 0 when free.
	probe    atomic.Int64
	cooldown atomic.Int64 // current open period in nanoseconds
	consec   atomic.Int64 // consecutive Failure/RateLimited outcomes

	inflight atomic.Int64
	// lastFail is when the last Failure or RateLimited was recorded (0: never), so healthy
	// endpoints answer Degraded without walking the window.
	lastFail atomic.Int64
	// epoch is the registry's change counter; degraded remembers the standing last
	// announced through it.
	epoch    *atomic.Uint64
	degraded atomic.Bool
	// limited reports that the breaker last opened on rate limiting, so a request that finds
	// every endpoint open can be told 429 (come back later) rather than 503 (outage).
	limited atomic.Bool

	ttft    ewma // nanoseconds
	tput    ewma // tokens/s
	errRate ewma

	recent degradedWindow
	stats  statsWindow

	// cached holds the window's percentiles, recomputed at most once per cacheEvery: a
	// routing preference compares them for every candidate of every request, and a walk of
	// the window costs microseconds.
	cached atomic.Pointer[cachedPercentiles]
}

type cachedPercentiles struct {
	at         int64
	ttft, tput Percentiles
	ttftOK     bool
	tputOK     bool
}

// RefreshEvery is how often Registry.Refresh should run; CachedPercentiles recomputes on
// the request path only when no refresh came for twice that long.
const RefreshEvery = time.Second

const cacheStale = int64(2 * RefreshEvery)

// refresh recomputes the cached percentiles.
func (e *Endpoint) refresh(now int64) *cachedPercentiles {
	n := &cachedPercentiles{at: now}
	n.ttft, n.ttftOK = e.TTFTPercentiles(now)
	n.tput, n.tputOK = e.ThroughputPercentiles(now)
	e.cached.Store(n)
	return n
}

// CachedPercentiles returns TTFT (milliseconds) and throughput (tokens/s) percentiles over
// the stats window as of at most two refresh periods ago; ok is false for a distribution with too few
// samples. One atomic load on the request path while Registry.Refresh runs every
// RefreshEvery off it.
func (e *Endpoint) CachedPercentiles(now int64) (ttft Percentiles, ttftOK bool, tput Percentiles, tputOK bool) {
	c := e.cached.Load()
	if c == nil || now-c.at >= cacheStale || now < c.at {
		c = e.refresh(now)
	}
	return c.ttft, c.ttftOK, c.tput, c.tputOK
}

func newEndpoint(cfg *Config, epoch *atomic.Uint64) *Endpoint {
	e := &Endpoint{cfg: cfg, epoch: epoch}
	e.cooldown.Store(int64(cfg.Cooldown))
	e.ttft.init()
	e.tput.init()
	e.errRate.init()
	e.recent.init(cfg.DegradedWindow)
	e.stats.init(cfg.StatsWindow)
	return e
}

// ---- breaker ----

// State reports the breaker: Open while now is before the open-until time, HalfOpen once it
// has passed but no attempt has succeeded since, Closed otherwise.
func (e *Endpoint) State(now int64) State {
	t := e.trip.Load()
	switch {
	case t <= 0:
		return Closed
	case now < t:
		return Open
	}
	return HalfOpen
}

// OpenUntil is when the current or most recent open period ends (unix nanoseconds), or 0 if
// the breaker has never opened. The router uses it for Retry-After when every candidate is
// open.
func (e *Endpoint) OpenUntil() int64 {
	t := e.trip.Load()
	if t < 0 {
		return -t
	}
	return t
}

// Admit reports whether an attempt may be sent now: always when Closed, never when Open, and
// when HalfOpen to exactly one caller, which takes the probe slot. The slot is freed by the
// probe's outcome (FirstByte, Fail) or ReleaseProbe; if none comes within ProbeLease the next
// caller takes it over, so a lost probe cannot wedge the endpoint half-open.
func (e *Endpoint) Admit(now int64) bool {
	t := e.trip.Load()
	if t <= 0 {
		return true
	}
	if now < t {
		return false
	}
	p := e.probe.Load()
	if p != 0 && now < p {
		return false
	}
	lease := now + int64(e.cfg.ProbeLease)
	if !e.probe.CompareAndSwap(p, lease) {
		return false
	}
	// The breaker may have moved on (closed, or reopened and cleared the slot) between our
	// read of trip and the CAS; then the slot we took belongs to no half-open period and
	// would block the next one for a whole lease. Give it back and answer for the new state.
	if t2 := e.trip.Load(); t2 != t {
		e.probe.CompareAndSwap(lease, 0)
		return t2 <= 0
	}
	return true
}

// closeAfterProbe records a success for the breaker: consecutive failures reset, and a
// half-open breaker closes.
func (e *Endpoint) closeAfterProbe(now int64) {
	if e.consec.Load() != 0 {
		e.consec.Store(0)
	}
	if t := e.trip.Load(); t > 0 && now >= t && e.trip.CompareAndSwap(t, -t) {
		e.cooldown.Store(int64(e.cfg.Cooldown))
		e.probe.Store(0)
		e.epoch.Add(1)
	}
}

// ActiveProbe records the result of an active probe (a request the node made itself, not
// a client's): it moves the breaker as a probe does — success closes a half-open breaker,
// failure reopens it for a doubled cooldown — but leaves every statistic alone, since no
// client was served or failed.
func (e *Endpoint) ActiveProbe(now int64, ok bool) {
	if ok {
		e.closeAfterProbe(now)
		return
	}
	if t := e.trip.Load(); t > 0 && now >= t && !e.cfg.BreakerDisabled {
		e.open(now, 0)
	}
}

// RateLimited reports whether the breaker is open because the provider rate limited us.
func (e *Endpoint) RateLimited(now int64) bool { return e.State(now) == Open && e.limited.Load() }

// ReleaseProbe gives back a probe slot Admit granted for an attempt that was never started.
// The slot carries no owner, so a caller releasing late (after its lease passed to another)
// frees the other's slot and at most one extra probe goes out; that is cheaper than tokens.
func (e *Endpoint) ReleaseProbe() { e.probe.Store(0) }

// open opens the breaker until until or, when until is 0, for the cooldown that applies:
// the current one from Closed, or, when this ends a half-open period (a failed probe), the
// cooldown doubled up to MaxCooldown, which then stays the cooldown until a probe succeeds.
// It never shortens an open period already running: an old attempt's failure cannot.
func (e *Endpoint) open(now, until int64) {
	for {
		t := e.trip.Load()
		halfOpen := t > 0 && now >= t
		c := e.cooldown.Load()
		if halfOpen {
			c = min(2*c, int64(e.cfg.MaxCooldown))
		}
		u := until
		if u == 0 {
			u = now + c
		}
		if t > now && t >= u {
			return
		}
		if e.trip.CompareAndSwap(t, u) {
			if halfOpen {
				e.cooldown.Store(c)
			}
			e.probe.Store(0)
			e.epoch.Add(1)
			return
		}
	}
}

// FirstByte records that an attempt succeeded: its first byte or event arrived after ttft.
// It resets the consecutive failures and, once the open period has passed, closes the
// breaker and restores the base cooldown. That need not be the probe's success: the package
// cannot tell attempts apart, and any answer after the open period shows the endpoint is
// back. A success arriving while still Open comes from an attempt started before the breaker
// opened; it is counted but does not close it early (a Retry-After in particular must hold).
func (e *Endpoint) FirstByte(now int64, ttft time.Duration) {
	e.closeAfterProbe(now)

	e.errRate.add(0, alphaErr)
	e.recent.add(now, degradedAttempt)
	if e.degraded.Load() && !e.Degraded(now) && e.degraded.CompareAndSwap(true, false) {
		e.epoch.Add(1)
	}
	s := e.stats.slot(now)
	if s != nil {
		s.ok.Add(1)
	}
	if ttft >= 0 {
		e.ttft.add(float64(ttft), alphaTTFT)
		if s != nil {
			s.ttft[bucketOf(float64(ttft)/float64(time.Millisecond), ttftLowMillis)].Add(1)
		}
	}
}

// Fail records that an attempt failed with outcome o (Success is ignored). Failure and
// RateLimited count as consecutive failures; reaching FailuresToOpen opens the breaker for
// the current cooldown. A 429 with retryAfter > 0 opens it at once until
// now+min(retryAfter, MaxCooldown). Any failure once the open period has passed is taken
// as a failed probe (as with FirstByte, it is fresh evidence whichever attempt it was): the
// breaker reopens with the cooldown doubled (capped at MaxCooldown), or for the Retry-After
// if one was given. ClientError is not held against the endpoint, but frees the probe slot
// so the next caller can probe.
func (e *Endpoint) Fail(now int64, o Outcome, retryAfter time.Duration) {
	switch o {
	case Failure, RateLimited:
	case ClientError:
		if e.trip.Load() > 0 {
			e.probe.Store(0)
		}
		return
	default:
		return
	}

	e.errRate.add(1, alphaErr)
	e.recent.add(now, degradedFailure)
	if now > e.lastFail.Load() {
		e.lastFail.Store(now) // a racing older store only shortens the fast path's reach
	}
	if !e.degraded.Load() && e.Degraded(now) && e.degraded.CompareAndSwap(false, true) {
		e.epoch.Add(1)
	}
	if s := e.stats.slot(now); s != nil {
		if o == Failure {
			s.failed.Add(1)
		} else {
			s.limited.Add(1)
		}
	}

	n := e.consec.Add(1)
	if e.cfg.BreakerDisabled {
		return
	}
	if o == RateLimited && retryAfter > 0 {
		// The provider said when to come back: that time, not our cooldown, is the period.
		e.limited.Store(true)
		e.open(now, now+int64(min(retryAfter, e.cfg.MaxCooldown)))
		return
	}
	t := e.trip.Load()
	switch {
	case t <= 0:
		if n >= int64(e.cfg.FailuresToOpen) {
			e.limited.Store(o == RateLimited)
			e.open(now, 0)
		}
	case now >= t:
		e.limited.Store(o == RateLimited)
		e.open(now, 0) // a failed probe
	}
	// Otherwise Open: the attempt started before the breaker opened and changes nothing.
}

// Done records a finished generation: completionTokens over generation (first byte to last)
// feeds throughput when both are meaningful (at least one token, at least 1ms), since a
// shorter span says more about buffering than about the endpoint's speed.
func (e *Endpoint) Done(now int64, generation time.Duration, completionTokens int64) {
	if completionTokens < 1 || generation < time.Millisecond {
		return
	}
	tps := float64(completionTokens) / generation.Seconds()
	e.tput.add(tps, alphaTput)
	if s := e.stats.slot(now); s != nil {
		s.tput[bucketOf(tps, tputLow)].Add(1)
	}
}

// Begin marks an attempt started; End, called exactly once per Begin, marks it over.
func (e *Endpoint) Begin() { e.inflight.Add(1) }

// End marks an attempt over.
func (e *Endpoint) End() { e.inflight.Add(-1) }

// ---- reads ----

// Inflight is the number of attempts begun and not ended.
func (e *Endpoint) Inflight() int64 { return e.inflight.Load() }

// Degraded reports significant recent failures: within DegradedWindow at least
// DegradedMinFailures failures (429s included) making up at least DegradedRatio of attempts.
// The router ranks degraded endpoints last rather than skipping them.
func (e *Endpoint) Degraded(now int64) bool {
	// Most endpoints most of the time have not failed lately: one load answers for them,
	// where counting the window costs a division and a dozen loads per candidate.
	if now-e.lastFail.Load() > int64(e.cfg.DegradedWindow) {
		return false
	}
	attempts, failures := e.recent.counts(now)
	return failures >= uint64(e.cfg.DegradedMinFailures) &&
		float64(failures) >= e.cfg.DegradedRatio*float64(attempts)
}

// TTFT is the EWMA of time to first byte, 0 before the first sample.
func (e *Endpoint) TTFT() time.Duration { return time.Duration(e.ttft.value()) }

// Throughput is the EWMA of completion tokens/s, 0 before the first sample.
func (e *Endpoint) Throughput() float64 { return e.tput.value() }

// ErrorRate is the EWMA of failure (Failure and RateLimited 1, success 0), 0 before the first
// sample.
func (e *Endpoint) ErrorRate() float64 { return e.errRate.value() }

// quantileMinSamples is where a percentile starts to mean something for ranking; Snapshot,
// which is for display, reports from snapshotMinSamples.
const (
	quantileMinSamples = 20
	snapshotMinSamples = 5
	uptimeMinRequests  = 10
)

// TTFTQuantile is the q-quantile (0..1) of time to first byte over StatsWindow, or 0 with
// fewer than 20 samples. See the histogram notes in window.go for its error bound. It walks
// the whole window (about 2µs at 30 minutes), so prefer TTFT for per-request ranking.
func (e *Endpoint) TTFTQuantile(now int64, q float64) time.Duration {
	var c [histBuckets]uint64
	total := e.stats.mergeHist(now, false, &c)
	if total < quantileMinSamples {
		return 0
	}
	return time.Duration(quantile(&c, total, q, ttftLowMillis) * float64(time.Millisecond))
}

// ThroughputQuantile is the q-quantile (0..1) of tokens/s over StatsWindow, or 0 with fewer
// than 20 samples. Low quantiles are the pessimistic ones here.
func (e *Endpoint) ThroughputQuantile(now int64, q float64) float64 {
	var c [histBuckets]uint64
	total := e.stats.mergeHist(now, true, &c)
	if total < quantileMinSamples {
		return 0
	}
	return quantile(&c, total, q, tputLow)
}

// TTFTPercentiles is TTFTQuantile at 0.5, 0.75, 0.9 and 0.99, in milliseconds, for the cost
// of one walk of the window instead of four; ok is false with fewer than 20 samples.
func (e *Endpoint) TTFTPercentiles(now int64) (p Percentiles, ok bool) {
	var c [histBuckets]uint64
	total := e.stats.mergeHist(now, false, &c)
	if total < quantileMinSamples {
		return Percentiles{}, false
	}
	return percentiles(&c, total, ttftLowMillis), true
}

// ThroughputPercentiles is ThroughputQuantile at 0.5, 0.75, 0.9 and 0.99 in one walk of the
// window; ok is false with fewer than 20 samples.
func (e *Endpoint) ThroughputPercentiles(now int64) (p Percentiles, ok bool) {
	var c [histBuckets]uint64
	total := e.stats.mergeHist(now, true, &c)
	if total < quantileMinSamples {
		return Percentiles{}, false
	}
	return percentiles(&c, total, tputLow), true
}

// Percentiles of a distribution; Snapshot reports latency in milliseconds and throughput in
// tokens/s.
type Percentiles struct{ P50, P75, P90, P99 float64 }

// Snapshot is an endpoint's statistics at one instant, for /stats, route plugins and logs.
type Snapshot struct {
	State          State
	OpenUntil      int64
	Degraded       bool
	Requests       int64        // attempts in StatsWindow (successes + failures + rate limited)
	Uptime5m       *float64     // percent success/(success+Failure) over the last 5 minutes; nil under 10 such attempts
	Uptime30m      *float64     // the same over StatsWindow
	Latency        *Percentiles // TTFT in milliseconds over StatsWindow; nil under 5 samples
	Throughput     *Percentiles // tokens/s over StatsWindow; nil under 5 samples
	TTFTEWMA       time.Duration
	ThroughputEWMA float64
	ErrorRate      float64
	Inflight       int64
}

// Snapshot gathers every statistic at now. Unlike the other reads it walks the whole stats
// window and allocates once, so it is for reporting, not for each request. "5 minutes" and
// StatsWindow include the current partial minute (see statsWindow).
func (e *Endpoint) Snapshot(now int64) Snapshot {
	snap := Snapshot{
		State:          e.State(now),
		OpenUntil:      e.OpenUntil(),
		Degraded:       e.Degraded(now),
		TTFTEWMA:       e.TTFT(),
		ThroughputEWMA: e.Throughput(),
		ErrorRate:      e.ErrorRate(),
		Inflight:       e.Inflight(),
	}

	var (
		okShort, failShort     uint64
		okAll, failAll, limAll uint64
		ttftC, tputC           [histBuckets]uint64
		ttftN, tputN           uint64
		cur                    = now / minute
		short                  = min(int64(uptimeShortMinutes), e.stats.span)
	)
	for i := range e.stats.slots {
		s := &e.stats.slots[i]
		stamp := s.epoch.Load()
		if !inWindow(stamp, cur, e.stats.span) {
			continue
		}
		ok, fail, lim := uint64(s.ok.Load()), uint64(s.failed.Load()), uint64(s.limited.Load())
		okAll += ok
		failAll += fail
		limAll += lim
		if inWindow(stamp, cur, short) {
			okShort += ok
			failShort += fail
		}
		for j := range histBuckets {
			ttftC[j] += uint64(s.ttft[j].Load())
			tputC[j] += uint64(s.tput[j].Load())
		}
	}
	for j := range histBuckets {
		ttftN += ttftC[j]
		tputN += tputC[j]
	}
	snap.Requests = int64(okAll + failAll + limAll)

	// One allocation backs every pointer in the snapshot.
	out := new(struct {
		up5, up30 float64
		lat, tput Percentiles
	})
	if okShort+failShort >= uptimeMinRequests {
		out.up5 = 100 * float64(okShort) / float64(okShort+failShort)
		snap.Uptime5m = &out.up5
	}
	if okAll+failAll >= uptimeMinRequests {
		out.up30 = 100 * float64(okAll) / float64(okAll+failAll)
		snap.Uptime30m = &out.up30
	}
	if ttftN >= snapshotMinSamples {
		out.lat = percentiles(&ttftC, ttftN, ttftLowMillis)
		snap.Latency = &out.lat
	}
	if tputN >= snapshotMinSamples {
		out.tput = percentiles(&tputC, tputN, tputLow)
		snap.Throughput = &out.tput
	}
	return snap
}

func percentiles(c *[histBuckets]uint64, total uint64, low float64) Percentiles {
	return Percentiles{
		P50: quantile(c, total, 0.50, low),
		P75: quantile(c, total, 0.75, low),
		P90: quantile(c, total, 0.90, low),
		P99: quantile(c, total, 0.99, low),
	}
}

// ewma is a float64 exponentially weighted moving average in an atomic word, updated by CAS
// so concurrent recorders never lock. NaN marks "no sample yet", so the first sample
// initialises it instead of being averaged with a made-up zero.
type ewma struct{ bits atomic.Uint64 }

var nanBits = math.Float64bits(math.NaN())

func (a *ewma) init() { a.bits.Store(nanBits) }

func (a *ewma) add(x, alpha float64) {
	for {
		old := a.bits.Load()
		prev := math.Float64frombits(old)
		next := x
		if !math.IsNaN(prev) {
			next = prev + alpha*(x-prev)
		}
		if a.bits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

func (a *ewma) value() float64 {
	v := math.Float64frombits(a.bits.Load())
	if math.IsNaN(v) {
		return 0
	}
	return v
}
