package health

import (
	"math"
	"sync/atomic"
	"time"
)

// Windows are rings of slots, each stamped with the epoch (time / slot width) it counts.
// A writer whose epoch is newer than its slot's stamp recycles the slot; a reader counts a
// slot only if its stamp is inside the window. Nothing ever sweeps old slots, so an idle
// endpoint costs nothing.
//
// Recycling takes the slot with a CAS to the resetting stamp, zeroes it and then publishes
// the new epoch. Samples that arrive meanwhile are dropped rather than waited for: the
// request path never spins on another goroutine, and losing a sample or two per slot per
// window turn is invisible in the statistics. A reader racing a recycle can likewise see a
// half-zeroed slot for that instant; every reading here is an estimate anyway.
const resetting = math.MinInt64

// enter reports whether a sample for epoch e may be added to the slot stamped by epoch. When
// reset is true the caller has claimed the slot for recycling and must zero it and then
// publish e with epoch.Store(e).
func enter(epoch *atomic.Int64, e int64) (ok, reset bool) {
	for {
		cur := epoch.Load()
		switch {
		case cur == e:
			return true, false
		case cur == resetting, cur > e:
			// Being recycled by another writer, or the sample is older than the slot's
			// contents (a caller with a slightly stale clock): drop it.
			return false, false
		}
		if epoch.CompareAndSwap(cur, resetting) {
			return true, true
		}
	}
}

// inWindow reports whether a slot stamped stamp belongs to the span epochs ending at cur.
// The resetting stamp is far below any window, so a slot being recycled reads as empty.
func inWindow(stamp, cur, span int64) bool { return stamp <= cur && stamp > cur-span }

// ---- degraded: a short window of attempts and failures ----

// degradedSubWindows is how many sub-buckets the degraded window is split into, the current
// (partial) one included: an outcome counts for between DegradedWindow less one sub-bucket
// and DegradedWindow (25s to 30s by default), so it is gone once the window has passed.
const degradedSubWindows = 6

type degradedSlot struct {
	epoch atomic.Int64
	// n packs attempts in the high 32 bits and failures in the low 32 so one atomic add
	// records both and one load reads a consistent pair.
	n atomic.Uint64
}

const (
	degradedAttempt = 1 << 32
	degradedFailure = degradedAttempt | 1
)

type degradedWindow struct {
	width int64 // nanoseconds per slot
	slots [degradedSubWindows]degradedSlot
}

func (w *degradedWindow) init(window time.Duration) {
	w.width = max(int64(window)/degradedSubWindows, 1)
}

func (w *degradedWindow) add(now int64, delta uint64) {
	e := now / w.width
	s := &w.slots[e%int64(len(w.slots))]
	ok, reset := enter(&s.epoch, e)
	if !ok {
		return
	}
	if reset {
		s.n.Store(0)
		s.epoch.Store(e)
	}
	s.n.Add(delta)
}

func (w *degradedWindow) counts(now int64) (attempts, failures uint64) {
	cur := now / w.width
	for i := range w.slots {
		s := &w.slots[i]
		if !inWindow(s.epoch.Load(), cur, int64(len(w.slots))) {
			continue
		}
		n := s.n.Load()
		attempts += n >> 32
		failures += n & (1<<32 - 1)
	}
	return attempts, failures
}

// ---- stats: per-minute counters and histograms ----

// Histograms have fixed log-spaced buckets: histPerDecade per decade over histDecades
// decades above a scale's lowest value, plus an underflow and an overflow bucket. Adjacent
// bounds differ by a factor of 10^(1/10) ≈ 1.259, and a quantile is interpolated inside the
// bucket holding the wanted rank, so an estimate is within that factor (under 26%) of the
// true sample; in practice, with many samples, much closer. Finer buckets would cost memory
// in every minute slot of every endpoint for precision no routing decision needs.
const (
	histPerDecade = 10
	histDecades   = 6
	histBuckets   = histPerDecade*histDecades + 2
)

// Scales' lowest values: TTFT in milliseconds covers 1ms to 1000s, past any first-byte
// timeout we would set; throughput in tokens/s covers 0.1 to 100k.
const (
	ttftLowMillis = 1.0
	tputLow       = 0.1
)

type hist [histBuckets]atomic.Uint32

// bucketOf maps v (in the scale whose lowest bound is low) to its histogram bucket.
func bucketOf(v, low float64) int {
	if !(v >= low) { // also NaN
		return 0
	}
	i := 1 + int(math.Log10(v/low)*histPerDecade)
	return min(i, histBuckets-1)
}

// bucketLow is the lower bound of bucket i >= 1.
func bucketLow(i int, low float64) float64 {
	return low * math.Pow(10, float64(i-1)/histPerDecade)
}

// quantile returns the q-quantile of merged bucket counts c holding total samples. Inside a
// bucket the rank is interpolated geometrically (the buckets are log-spaced, so that is the
// uniform assumption in the bucket's own terms); the underflow bucket interpolates linearly
// from 0 and the overflow bucket reports its lower bound, since it has no upper one.
func quantile(c *[histBuckets]uint64, total uint64, q, low float64) float64 {
	if total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	var cum float64
	for i := range c {
		n := float64(c[i])
		if n == 0 || cum+n < rank {
			cum += n
			continue
		}
		frac := (rank - cum) / n
		switch i {
		case 0:
			return low * frac
		case histBuckets - 1:
			return bucketLow(i, low)
		}
		return bucketLow(i, low) * math.Pow(10, frac/histPerDecade)
	}
	return bucketLow(histBuckets-1, low) // unreachable unless counts moved under us
}

// minuteSlot counts one minute. Counters are 32-bit because a minute never sees 4 billion
// attempts on one endpoint, and halving the histograms halves an endpoint's memory.
type minuteSlot struct {
	epoch   atomic.Int64
	ok      atomic.Uint32 // FirstByte
	failed  atomic.Uint32 // Fail(Failure)
	limited atomic.Uint32 // Fail(RateLimited)
	ttft    hist
	tput    hist
}

func (s *minuteSlot) clear() {
	s.ok.Store(0)
	s.failed.Store(0)
	s.limited.Store(0)
	for i := range s.ttft {
		s.ttft[i].Store(0)
	}
	for i := range s.tput {
		s.tput[i].Store(0)
	}
}

const minute = int64(time.Minute)

// uptimeShortMinutes is the span of Snapshot.Uptime5m.
const uptimeShortMinutes = 5

// statsWindow is a ring of minute slots: the current (partial) minute and the span-1 before
// it, so a sample counts for between span-1 and span minutes, like the degraded window.
type statsWindow struct {
	span  int64
	slots []minuteSlot
}

func (w *statsWindow) init(window time.Duration) {
	w.span = max((int64(window)+minute-1)/minute, 1)
	w.slots = make([]minuteSlot, w.span)
}

// slot returns the slot for now, recycling it if it holds an older minute, or nil when the
// sample must be dropped (see enter).
func (w *statsWindow) slot(now int64) *minuteSlot {
	m := now / minute
	s := &w.slots[m%int64(len(w.slots))]
	ok, reset := enter(&s.epoch, m)
	if !ok {
		return nil
	}
	if reset {
		s.clear()
		s.epoch.Store(m)
	}
	return s
}

// mergeHist sums one histogram (ttft or tput) over the window into c, which must be zero,
// and returns the total. It walks every bucket of every minute (about 2µs for a full 30-minute
// window), so it is for occasional reads, not one per candidate per request.
func (w *statsWindow) mergeHist(now int64, tput bool, c *[histBuckets]uint64) uint64 {
	cur := now / minute
	for i := range w.slots {
		s := &w.slots[i]
		if !inWindow(s.epoch.Load(), cur, w.span) {
			continue
		}
		h := &s.ttft
		if tput {
			h = &s.tput
		}
		for j := range h {
			c[j] += uint64(h[j].Load())
		}
	}
	var total uint64
	for _, n := range c {
		total += n
	}
	return total
}
