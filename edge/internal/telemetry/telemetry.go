// Package telemetry owns the node's observability: logger construction and the process
// metrics, exposed in the Prometheus text format at /metrics. Counters are plain atomics so
// recording one costs a few nanoseconds on the hot path and never takes a lock.
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/metrics"
	"strings"
	"sync/atomic"
)

// NewLogger builds the node's logger from the configured level (debug, info, warn, error)
// and format (text or json), writing to stderr.
func NewLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Metrics are the node's counters. The zero value is not usable; call NewMetrics.
type Metrics struct {
	responses        [600]atomic.Int64 // by HTTP status of chat responses
	streamsActive    atomic.Int64
	streamsTotal     atomic.Int64
	streamErrors     atomic.Int64
	chunks           atomic.Int64
	promptTokens     atomic.Int64
	completionTokens atomic.Int64

	attempts   [numAttemptOutcomes]atomic.Int64
	failovers  atomic.Int64
	hedges     atomic.Int64
	hedgesWon  atomic.Int64
	collectors atomic.Pointer[func(io.Writer)]
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics { return &Metrics{} }

// Response counts a chat response by its status.
func (m *Metrics) Response(status int) {
	if status >= 100 && status < len(m.responses) {
		m.responses[status].Add(1)
	}
}

// Error counts an error response.
func (m *Metrics) Error(status int) { m.Response(status) }

// StreamStarted counts a stream that began relaying; StreamEnded pairs with it.
func (m *Metrics) StreamStarted() { m.streamsActive.Add(1); m.streamsTotal.Add(1) }

// StreamEnded marks a stream done; failed reports it ended with an error event.
func (m *Metrics) StreamEnded(chunks int64, failed bool) {
	m.streamsActive.Add(-1)
	m.chunks.Add(chunks)
	if failed {
		m.streamErrors.Add(1)
	}
}

// Tokens adds the usage of one generation.
func (m *Metrics) Tokens(prompt, completion int64) {
	m.promptTokens.Add(prompt)
	m.completionTokens.Add(completion)
}

// AttemptOutcome classifies one upstream attempt for crossroads_route_attempts_total.
type AttemptOutcome int

// Attempt outcomes.
const (
	AttemptOK AttemptOutcome = iota
	AttemptFailed
	AttemptRateLimited
	AttemptTimeout
	AttemptClientError
	AttemptCancelled
	numAttemptOutcomes
)

var attemptNames = [numAttemptOutcomes]string{"ok", "failed", "rate_limited", "timeout", "client_error", "cancelled"}

// Attempt counts one upstream attempt by how it ended.
func (m *Metrics) Attempt(o AttemptOutcome) { m.attempts[o].Add(1) }

// Failover counts a request served by an endpoint other than its first choice.
func (m *Metrics) Failover() { m.failovers.Add(1) }

// Hedge counts a hedged attempt started, and whether it won.
func (m *Metrics) Hedge(won bool) {
	if won {
		m.hedgesWon.Add(1)
	} else {
		m.hedges.Add(1)
	}
}

// SetCollector installs a function that writes more metrics at every scrape (the node's
// per-endpoint health, which lives with the current router).
func (m *Metrics) SetCollector(f func(io.Writer)) { m.collectors.Store(&f) }

// StreamsActive reports the streams being relayed now.
func (m *Metrics) StreamsActive() int64 { return m.streamsActive.Load() }

// WriteText writes the metrics in the Prometheus text exposition format.
func (m *Metrics) WriteText(w io.Writer) {
	var b strings.Builder
	b.WriteString("# HELP crossroads_chat_responses_total Chat completion responses by HTTP status.\n# TYPE crossroads_chat_responses_total counter\n")
	for code := range m.responses {
		if n := m.responses[code].Load(); n > 0 {
			fmt.Fprintf(&b, "crossroads_chat_responses_total{code=\"%d\"} %d\n", code, n)
		}
	}
	gauge := func(name, help string, v int64, typ string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	gauge("crossroads_streams_active", "Streams being relayed now.", m.streamsActive.Load(), "gauge")
	gauge("crossroads_streams_total", "Streams relayed.", m.streamsTotal.Load(), "counter")
	gauge("crossroads_stream_errors_total", "Streams ended with an error event.", m.streamErrors.Load(), "counter")
	gauge("crossroads_stream_chunks_total", "Stream chunks relayed to clients.", m.chunks.Load(), "counter")
	gauge("crossroads_prompt_tokens_total", "Prompt tokens reported by upstreams.", m.promptTokens.Load(), "counter")
	gauge("crossroads_completion_tokens_total", "Completion tokens reported by upstreams.", m.completionTokens.Load(), "counter")
	b.WriteString("# HELP crossroads_route_attempts_total Upstream attempts by outcome.\n# TYPE crossroads_route_attempts_total counter\n")
	for o, name := range attemptNames {
		fmt.Fprintf(&b, "crossroads_route_attempts_total{outcome=%q} %d\n", name, m.attempts[o].Load())
	}
	gauge("crossroads_route_failovers_total", "Requests served by an endpoint other than their first choice.", m.failovers.Load(), "counter")
	gauge("crossroads_route_hedges_total", "Hedged attempts started.", m.hedges.Load(), "counter")
	gauge("crossroads_route_hedges_won_total", "Hedged attempts that answered first.", m.hedgesWon.Load(), "counter")
	writeRuntime(&b)
	_, _ = io.WriteString(w, b.String())
	if f := m.collectors.Load(); f != nil {
		(*f)(w)
	}
}

// runtimeMetrics are the Go runtime figures an operator needs to see memory per stream and
// leaks across load: goroutines, heap in use, heap kept from the OS, and stacks.
var runtimeMetrics = []struct{ name, help, key string }{
	{"go_goroutines", "Goroutines that currently exist.", "/sched/goroutines:goroutines"},
	{"go_heap_objects_bytes", "Heap memory occupied by live and not yet freed objects.", "/memory/classes/heap/objects:bytes"},
	{"go_heap_unused_bytes", "Heap memory reserved but not in use.", "/memory/classes/heap/unused:bytes"},
	{"go_heap_released_bytes", "Heap memory returned to the OS.", "/memory/classes/heap/released:bytes"},
	{"go_stack_bytes", "Memory used by goroutine stacks.", "/memory/classes/heap/stacks:bytes"},
	{"go_memory_total_bytes", "All memory mapped by the Go runtime.", "/memory/classes/total:bytes"},
	{"go_gc_cycles_total", "Completed GC cycles.", "/gc/cycles/total:gc-cycles"},
}

func writeRuntime(b *strings.Builder) {
	samples := make([]metrics.Sample, len(runtimeMetrics))
	for i, m := range runtimeMetrics {
		samples[i].Name = m.key
	}
	metrics.Read(samples)
	for i, m := range runtimeMetrics {
		var v uint64
		switch samples[i].Value.Kind() {
		case metrics.KindUint64:
			v = samples[i].Value.Uint64()
		default:
			continue
		}
		typ := "gauge"
		if strings.HasSuffix(m.name, "_total") {
			typ = "counter"
		}
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, typ, m.name, v)
	}
}
