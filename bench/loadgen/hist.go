package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear (HDR style) over nanoseconds: exact below
// 128 ns, then 64 linear sub-buckets per power of two, so any recorded value
// is reported within 0.8% (bucket midpoint). Memory is fixed (19 KiB per
// shard) whatever the run length, which matters with 10,000 workers and
// millions of inter-chunk gaps.
const (
	subBits    = 6
	subCount   = 1 << subBits // 64
	linearTop  = 2 * subCount // 128: values below are their own bucket
	maxLen     = 42           // values up to 2^42 ns (~73 min); larger clamp
	numBuckets = linearTop + (maxLen-7)*subCount
)

func bucketOf(v uint64) int {
	if v < linearTop {
		return int(v)
	}
	l := bits.Len64(v)
	if l > maxLen {
		return numBuckets - 1
	}
	shift := l - subBits - 1
	return linearTop + (l-8)*subCount + int(v>>shift) - subCount
}

// bucketValue is the midpoint of bucket i.
func bucketValue(i int) uint64 {
	if i < linearTop {
		return uint64(i)
	}
	e := (i - linearTop) / subCount
	m := uint64((i-linearTop)%subCount + subCount)
	shift := e + 1
	return m<<shift + (1<<shift)/2
}

type histShard struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

// hist is sharded so workers on different shards never contend; within a
// shard atomics keep it race-free without a lock.
type hist struct {
	shards []histShard
}

func newHist(shards int) *hist {
	return &hist{shards: make([]histShard, max(shards, 1))}
}

func (h *hist) record(shard int, d time.Duration) {
	if d < 0 {
		d = 0
	}
	v := uint64(d)
	s := &h.shards[shard%len(h.shards)]
	s.counts[bucketOf(v)].Add(1)
	s.n.Add(1)
	s.sum.Add(v)
	for {
		m := s.max.Load()
		if v <= m || s.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// snapshot merges the shards.
type snapshot struct {
	counts []uint64
	n      uint64
	sum    uint64
	max    uint64
}

func (h *hist) snapshot() snapshot {
	sn := snapshot{counts: make([]uint64, numBuckets)}
	for i := range h.shards {
		s := &h.shards[i]
		for b := range s.counts {
			sn.counts[b] += s.counts[b].Load()
		}
		sn.n += s.n.Load()
		sn.sum += s.sum.Load()
		sn.max = max(sn.max, s.max.Load())
	}
	return sn
}

// quantile returns the value at quantile q (0..1), never above the exact max.
func (sn snapshot) quantile(q float64) time.Duration {
	if sn.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(sn.n)))
	rank = max(rank, 1)
	var cum uint64
	for i, c := range sn.counts {
		cum += c
		if cum >= rank {
			return time.Duration(min(bucketValue(i), sn.max))
		}
	}
	return time.Duration(sn.max)
}

// Pcts are latency percentiles in microseconds.
type Pcts struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean_us"`
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func (sn snapshot) pcts() *Pcts {
	if sn.n == 0 {
		return nil
	}
	return &Pcts{
		N:    sn.n,
		Mean: float64(sn.sum) / float64(sn.n) / 1e3,
		P50:  us(sn.quantile(0.50)),
		P90:  us(sn.quantile(0.90)),
		P99:  us(sn.quantile(0.99)),
		P999: us(sn.quantile(0.999)),
		Max:  us(time.Duration(sn.max)),
	}
}
