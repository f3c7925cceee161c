package edge_test

import (
	"testing"
	"time"
)

// BenchmarkRoutingUnderFailures is the load run of the routing issue: 400 requests (half
// streamed) at concurrency 8 through a node in front of three equally priced endpoints —
// healthy, flaky (3 in 10 requests fail with 429, 500 or 503) and slow (300 ms to first
// byte) — with a 1 s attempt timeout. It reports the share of requests that succeeded,
// each endpoint's share of upstream requests, and client latency percentiles.
func BenchmarkRoutingUnderFailures(b *testing.B) {
	const slow, timeout = 300 * time.Millisecond, time.Second
	for b.Loop() {
		r := runRoutingLoad(b, 400, 8, slow, timeout)
		total := float64(r.hits["good"] + r.hits["flaky"] + r.hits["slow"])
		b.ReportMetric(100*float64(r.ok)/float64(r.requests), "ok%")
		b.ReportMetric(100*float64(r.hits["good"])/total, "good%")
		b.ReportMetric(100*float64(r.hits["flaky"])/total, "flaky%")
		b.ReportMetric(100*float64(r.hits["slow"])/total, "slow%")
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(r.max.Microseconds())/1000, "max-ms")
	}
}
