package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is one run's outcome; -json prints it as one line and -report reads
// those lines back.
type Result struct {
	Label    string  `json:"label"`
	Scenario string  `json:"scenario,omitempty"`
	Round    int     `json:"round"`
	URL      string  `json:"url"`
	Proto    string  `json:"proto"`
	Stream   bool    `json:"stream"`
	Mode     string  `json:"mode"` // closed | open
	C        int     `json:"c,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Conns    int     `json:"conns"`
	Dials    int64   `json:"tcp_dials"`

	DurationS  float64           `json:"duration_s"`
	Requests   int64             `json:"requests"` // recorded: ok + errors
	OK         int64             `json:"ok"`
	Errors     int64             `json:"errors"`
	ErrorKinds map[string]int64  `json:"error_kinds,omitempty"`
	ErrorEx    map[string]string `json:"error_examples,omitempty"`
	Unfinished int64             `json:"unfinished"` // cancelled at the end of the drain period
	Late       int64             `json:"late_sends,omitempty"`
	RPS        float64           `json:"rps"`

	Lat      *Pcts `json:"latency"`
	LatSched *Pcts `json:"latency_from_schedule,omitempty"`
	TTFB     *Pcts `json:"ttfb"`

	TTFT            *Pcts   `json:"ttft,omitempty"`
	Gap             *Pcts   `json:"gap,omitempty"`
	Chunks          int64   `json:"chunks,omitempty"`
	ChunksPerStream float64 `json:"chunks_per_stream,omitempty"`
	ChunksPerSec    float64 `json:"chunks_per_s,omitempty"`

	TargetPID       int     `json:"pid,omitempty"`
	CPUus           float64 `json:"cpu_us,omitempty"`
	CPUPerReq       float64 `json:"cpu_us_per_req,omitempty"`
	CPUPerChunk     float64 `json:"cpu_us_per_chunk,omitempty"`
	ClientCPUPerReq float64 `json:"client_cpu_us_per_req"`
	RSSStartKiB     int64   `json:"rss_start_kib,omitempty"`
	RSSMaxKiB       int64   `json:"rss_max_kib,omitempty"`
	RSSFinalKiB     int64   `json:"rss_final_kib,omitempty"`
}

func (r *runner) result() *Result {
	o := r.o
	res := &Result{
		Label: o.label, Scenario: o.scenario, Round: o.round, URL: o.url,
		Proto: o.proto, Stream: o.stream, Conns: o.conns, Dials: r.cl.dials.Load(),
		OK: r.ok.Load(), Errors: r.failed.Load(), Unfinished: r.unfinished.Load(),
		Late: r.late.Load(), Chunks: r.chunks.Load(),
	}
	if o.rate > 0 {
		res.Mode, res.Rate = "open", o.rate
	} else {
		res.Mode, res.C = "closed", o.c
	}
	res.Requests = res.OK + res.Errors
	r.errMu.Lock()
	if len(r.errKinds) > 0 {
		res.ErrorKinds = maps.Clone(r.errKinds)
		res.ErrorEx = maps.Clone(r.errEx)
	}
	r.errMu.Unlock()

	// The window runs from the end of warm-up to the last recorded
	// completion, so -n runs that end early are not diluted.
	end := time.Unix(0, r.lastEnd.Load())
	if el := end.Sub(r.measureStart); el > 0 && res.Requests > 0 {
		res.DurationS = el.Seconds()
		res.RPS = float64(res.OK) / res.DurationS
		res.ChunksPerSec = float64(res.Chunks) / res.DurationS
	}
	res.Lat = r.lat.snapshot().pcts()
	res.TTFB = r.ttfb.snapshot().pcts()
	if o.rate > 0 {
		res.LatSched = r.latSched.snapshot().pcts()
	}
	if o.stream {
		res.TTFT = r.ttft.snapshot().pcts()
		res.Gap = r.gap.snapshot().pcts()
		if res.Requests > 0 {
			res.ChunksPerStream = float64(res.Chunks) / float64(res.Requests)
		}
	}
	return res
}

func fmtPcts(p *Pcts) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s",
		fmtUS(p.P50), fmtUS(p.P90), fmtUS(p.P99), fmtUS(p.P999), fmtUS(p.Max), fmtUS(p.Mean))
}

// fmtUS prints microseconds with a unit that keeps 3-4 significant digits.
func fmtUS(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fs", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fms", v/1e3)
	default:
		return fmt.Sprintf("%.0fµs", v)
	}
}

func (res *Result) human() string {
	var b strings.Builder
	load := fmt.Sprintf("closed c=%d", res.C)
	if res.Mode == "open" {
		load = fmt.Sprintf("open rate=%g/s", res.Rate)
	}
	kind := "non-stream"
	if res.Stream {
		kind = "stream"
	}
	fmt.Fprintf(&b, "%s %s %s %s %s conns=%d tcp-dials=%d window=%.2fs\n",
		orDash(res.Label), res.URL, res.Proto, kind, load, res.Conns, res.Dials, res.DurationS)
	fmt.Fprintf(&b, "  requests %d  ok %d  errors %d  unfinished %d", res.Requests, res.OK, res.Errors, res.Unfinished)
	if res.Late > 0 {
		fmt.Fprintf(&b, "  late sends %d", res.Late)
	}
	b.WriteString("\n")
	for _, k := range slices.Sorted(maps.Keys(res.ErrorKinds)) {
		fmt.Fprintf(&b, "    %-14s %d  e.g. %q\n", k, res.ErrorKinds[k], res.ErrorEx[k])
	}
	fmt.Fprintf(&b, "  throughput %.1f req/s\n", res.RPS)
	fmt.Fprintf(&b, "  latency    %s\n", fmtPcts(res.Lat))
	if res.LatSched != nil {
		fmt.Fprintf(&b, "  from sched %s\n", fmtPcts(res.LatSched))
	}
	fmt.Fprintf(&b, "  ttfb       %s\n", fmtPcts(res.TTFB))
	if res.Stream {
		fmt.Fprintf(&b, "  ttft       %s\n", fmtPcts(res.TTFT))
		fmt.Fprintf(&b, "  chunk gap  %s\n", fmtPcts(res.Gap))
		fmt.Fprintf(&b, "  chunks %d (%.1f per stream, %.0f/s)\n", res.Chunks, res.ChunksPerStream, res.ChunksPerSec)
	}
	if res.TargetPID > 0 {
		fmt.Fprintf(&b, "  target pid %d: cpu %.3fs = %.1f µs/req", res.TargetPID, res.CPUus/1e6, res.CPUPerReq)
		if res.CPUPerChunk > 0 {
			fmt.Fprintf(&b, ", %.2f µs/chunk", res.CPUPerChunk)
		}
		fmt.Fprintf(&b, "; rss start %.1f max %.1f final %.1f MiB\n", mib(res.RSSStartKiB), mib(res.RSSMaxKiB), mib(res.RSSFinalKiB))
	}
	fmt.Fprintf(&b, "  loadgen cpu %.1f µs/req\n", res.ClientCPUPerReq)
	return b.String()
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var mdCols = []string{
	"target", "scenario", "proto", "load", "reqs", "errors", "req/s",
	"p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs",
	"TTFT p50 µs", "TTFT p99 µs", "gap p50 µs", "gap p99 µs", "gap max µs", "chunks/s",
	"CPU µs/req", "CPU µs/chunk", "RSS max MiB", "RSS final MiB",
}

func mdHeader() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(mdCols, " | ") + " |\n|")
	for range mdCols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	return b.String()
}

func (res *Result) mdRow() string {
	f0 := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	pick := func(p *Pcts, f func(*Pcts) float64) string {
		if p == nil {
			return "–"
		}
		return f0(f(p))
	}
	load := fmt.Sprintf("c=%d", res.C)
	if res.Mode == "open" {
		load = fmt.Sprintf("%g/s", res.Rate)
	}
	if res.Proto != "h1" {
		load += fmt.Sprintf("/%dconn", res.Conns)
	}
	if res.Stream {
		load += " stream"
	}
	errs := fmt.Sprint(res.Errors)
	if res.Errors > 0 {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(res.ErrorKinds)) {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k, res.ErrorKinds[k]))
		}
		errs += " (" + strings.Join(kinds, " ") + ")"
	}
	cpuChunk, rssMax, rssFinal := "–", "–", "–"
	if res.CPUPerChunk > 0 {
		cpuChunk = fmt.Sprintf("%.2f", res.CPUPerChunk)
	}
	if res.RSSMaxKiB > 0 {
		rssMax, rssFinal = fmt.Sprintf("%.1f", mib(res.RSSMaxKiB)), fmt.Sprintf("%.1f", mib(res.RSSFinalKiB))
	}
	cpuReq := "–"
	if res.TargetPID > 0 {
		cpuReq = fmt.Sprintf("%.1f", res.CPUPerReq)
	}
	chunksPS := "–"
	if res.Stream {
		chunksPS = f0(res.ChunksPerSec)
	}
	cells := []string{
		orDash(res.Label), orDash(res.Scenario), res.Proto, load, fmt.Sprint(res.Requests), errs, fmt.Sprintf("%.0f", res.RPS),
		pick(res.Lat, func(p *Pcts) float64 { return p.P50 }),
		pick(res.Lat, func(p *Pcts) float64 { return p.P90 }),
		pick(res.Lat, func(p *Pcts) float64 { return p.P99 }),
		pick(res.Lat, func(p *Pcts) float64 { return p.P999 }),
		pick(res.Lat, func(p *Pcts) float64 { return p.Max }),
		pick(res.TTFT, func(p *Pcts) float64 { return p.P50 }),
		pick(res.TTFT, func(p *Pcts) float64 { return p.P99 }),
		pick(res.Gap, func(p *Pcts) float64 { return p.P50 }),
		pick(res.Gap, func(p *Pcts) float64 { return p.P99 }),
		pick(res.Gap, func(p *Pcts) float64 { return p.Max }),
		chunksPS, cpuReq, cpuChunk, rssMax, rssFinal,
	}
	return "| " + strings.Join(cells, " | ") + " |\n"
}
