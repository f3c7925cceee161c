package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// The report reads the JSON lines bench/run.sh collects. Scenario names are
// the contract between the two:
//
//	a        non-stream h1 c=1          added latency vs direct
//	b        non-stream h1 c=64         saturation and CPU/req
//	c1 c64   stream (20 chunks) h1      TTFT, gaps, CPU/stream and /chunk
//	c64x200  stream (200 chunks) h1     marginal CPU per chunk vs c64
//	d-h2 d-h3 crossroads only           h3/h2 throughput ratio
//	e        slow streams, one row per run: RSS flatness
//
// Unknown scenarios only appear in the raw table.

const directLabel = "direct"

type resultSet struct {
	all     []*Result
	targets []string // in order of first appearance
}

func readResults(path string) (*resultSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: open report input: %w", err)
	}
	defer f.Close()
	rs := &resultSet{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] != '{' {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(t), &r); err != nil {
			return nil, fmt.Errorf("loadgen: parse report input line %d: %w", line, err)
		}
		rs.all = append(rs.all, &r)
		if !slices.Contains(rs.targets, r.Label) {
			rs.targets = append(rs.targets, r.Label)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: read report input: %w", err)
	}
	return rs, nil
}

// rounds returns the results of one scenario and target keyed by round.
func (rs *resultSet) rounds(scenario, label string) map[int]*Result {
	out := map[int]*Result{}
	for _, r := range rs.all {
		if r.Scenario == scenario && r.Label == label {
			out[r.Round] = r
		}
	}
	return out
}

func (rs *resultSet) has(scenario string) bool {
	return slices.ContainsFunc(rs.all, func(r *Result) bool { return r.Scenario == scenario })
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// collect applies f to every round in round order.
func collect(m map[int]*Result, f func(*Result) (float64, bool)) []float64 {
	var out []float64
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v, ok := f(m[k]); ok {
			out = append(out, v)
		}
	}
	return out
}

func p50(p *Pcts) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return p.P50, true
}

func p99(p *Pcts) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return p.P99, true
}

func medianOf(m map[int]*Result, f func(*Result) (float64, bool)) string {
	xs := collect(m, f)
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", median(xs))
}

func rangeOf(m map[int]*Result, f func(*Result) (float64, bool)) string {
	xs := collect(m, f)
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", median(xs), slices.Min(xs), slices.Max(xs))
}

// added returns per-round target−direct differences of f, paired by round.
func added(target, direct map[int]*Result, f func(*Result) (float64, bool)) []float64 {
	var out []float64
	for _, k := range slices.Sorted(maps.Keys(target)) {
		d, ok := direct[k]
		if !ok {
			continue
		}
		tv, ok1 := f(target[k])
		dv, ok2 := f(d)
		if ok1 && ok2 {
			out = append(out, tv-dv)
		}
	}
	return out
}

func fmtList(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func fmtMedian(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, median(xs))
}

func errorSummary(m map[int]*Result) string {
	var total int64
	kinds := map[string]int64{}
	for _, r := range m {
		total += r.Errors
		for k, v := range r.ErrorKinds {
			kinds[k] += v
		}
	}
	if total == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, kinds[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, " "))
}

func val(f func(*Result) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) { return f(r), true }
}

func cpuPerReq(r *Result) (float64, bool) { return r.CPUPerReq, r.TargetPID > 0 }

func writeReport(path string, w io.Writer) error {
	rs, err := readResults(path)
	if err != nil {
		return err
	}
	var b strings.Builder
	direct := func(s string) map[int]*Result { return rs.rounds(s, directLabel) }

	if rs.has("a") {
		b.WriteString("\n## A. Added latency: non-stream, h1, closed loop c=1\n\n")
		b.WriteString("Added = target − direct in the same round; the median is over rounds.\n\n")
		b.WriteString("| target | req/s | p50 µs | p99 µs | added p50 µs per round | added p50 median | added p99 µs per round | added p99 median | errors |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range rs.targets {
			m := rs.rounds("a", t)
			if len(m) == 0 {
				continue
			}
			a50, a99 := "–", "–"
			l50, l99 := "–", "–"
			if t != directLabel {
				x50 := added(m, direct("a"), func(r *Result) (float64, bool) { return p50(r.Lat) })
				x99 := added(m, direct("a"), func(r *Result) (float64, bool) { return p99(r.Lat) })
				l50, a50 = fmtList(x50, "%.0f"), fmtMedian(x50, "**%.0f**")
				l99, a99 = fmtList(x99, "%.0f"), fmtMedian(x99, "**%.0f**")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
				medianOf(m, val(func(r *Result) float64 { return r.RPS })),
				medianOf(m, func(r *Result) (float64, bool) { return p50(r.Lat) }),
				medianOf(m, func(r *Result) (float64, bool) { return p99(r.Lat) }),
				l50, a50, l99, a99, errorSummary(m))
		}
	}

	if rs.has("b") {
		b.WriteString("\n## B. Saturation: non-stream, h1, closed loop c=64\n\n")
		b.WriteString("CPU is the target process only (direct: the fake upstream itself). Throughput describes the whole 2-core box: load generator, proxy and upstream share it.\n\n")
		b.WriteString("| target | req/s median (min–max) | % of direct | CPU µs/req | p50 µs | p99 µs | RSS max MiB | loadgen CPU µs/req | errors |\n|---|---|---|---|---|---|---|---|---|\n")
		dm := collect(direct("b"), val(func(r *Result) float64 { return r.RPS }))
		for _, t := range rs.targets {
			m := rs.rounds("b", t)
			if len(m) == 0 {
				continue
			}
			pct := "–"
			if xs := collect(m, val(func(r *Result) float64 { return r.RPS })); len(dm) > 0 && median(dm) > 0 {
				pct = fmt.Sprintf("%.0f%%", 100*median(xs)/median(dm))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
				rangeOf(m, val(func(r *Result) float64 { return r.RPS })), pct,
				medianOf(m, cpuPerReq),
				medianOf(m, func(r *Result) (float64, bool) { return p50(r.Lat) }),
				medianOf(m, func(r *Result) (float64, bool) { return p99(r.Lat) }),
				medianOf(m, func(r *Result) (float64, bool) { return mib(r.RSSMaxKiB), r.RSSMaxKiB > 0 }),
				medianOf(m, val(func(r *Result) float64 { return r.ClientCPUPerReq })),
				errorSummary(m))
		}
	}

	streamTitles := map[string]string{
		"c1":      "stream, 20 chunks, h1, c=1",
		"c64":     "stream, 20 chunks, h1, c=64",
		"c64x200": "stream, 200 chunks, h1, c=64",
	}
	for _, s := range []string{"c1", "c64", "c64x200"} {
		if !rs.has(s) {
			continue
		}
		fmt.Fprintf(&b, "\n## C. Streaming: %s\n\n", streamTitles[s])
		b.WriteString("| target | streams/s | TTFT p50 µs | TTFT p99 µs | added TTFT p50 µs | gap p50 µs | gap p99 µs | gap max µs | events/stream | CPU µs/stream | CPU µs/event | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range rs.targets {
			m := rs.rounds(s, t)
			if len(m) == 0 {
				continue
			}
			addTTFT := "–"
			if t != directLabel {
				addTTFT = fmtMedian(added(m, direct(s), func(r *Result) (float64, bool) { return p50(r.TTFT) }), "%.0f")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
				medianOf(m, val(func(r *Result) float64 { return r.RPS })),
				medianOf(m, func(r *Result) (float64, bool) { return p50(r.TTFT) }),
				medianOf(m, func(r *Result) (float64, bool) { return p99(r.TTFT) }),
				addTTFT,
				medianOf(m, func(r *Result) (float64, bool) { return p50(r.Gap) }),
				medianOf(m, func(r *Result) (float64, bool) { return p99(r.Gap) }),
				medianOf(m, func(r *Result) (float64, bool) {
					if r.Gap == nil {
						return 0, false
					}
					return r.Gap.Max, true
				}),
				medianOf(m, val(func(r *Result) float64 { return r.ChunksPerStream })),
				medianOf(m, cpuPerReq),
				fmtMedian(collect(m, func(r *Result) (float64, bool) { return r.CPUPerChunk, r.CPUPerChunk > 0 }), "%.2f"),
				errorSummary(m))
		}
	}
	if rs.has("c64") && rs.has("c64x200") {
		b.WriteString("\n### Marginal CPU per chunk\n\n")
		b.WriteString("(CPU µs/stream at 200 chunks − at 20 chunks) ÷ (events/stream difference), per round, c=64. This is the cost of one more SSE event through the target, independent of per-request overhead.\n\n")
		b.WriteString("| target | CPU µs/stream, 20 | CPU µs/stream, 200 | marginal µs/chunk per round | median |\n|---|---|---|---|---|\n")
		for _, t := range rs.targets {
			m20, m200 := rs.rounds("c64", t), rs.rounds("c64x200", t)
			if len(m20) == 0 || len(m200) == 0 {
				continue
			}
			var marg []float64
			for _, k := range slices.Sorted(maps.Keys(m200)) {
				a, ok := m20[k]
				z := m200[k]
				if !ok || a.TargetPID == 0 || z.TargetPID == 0 {
					continue
				}
				if dc := z.ChunksPerStream - a.ChunksPerStream; dc > 1 {
					marg = append(marg, (z.CPUPerReq-a.CPUPerReq)/dc)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t, medianOf(m20, cpuPerReq), medianOf(m200, cpuPerReq),
				fmtList(marg, "%.2f"), fmtMedian(marg, "**%.2f**"))
		}
	}

	if rs.has("d-h2") || rs.has("d-h3") {
		b.WriteString("\n## D. Crossroads h2 vs h3: non-stream, c=64 over 4 connections\n\n")
		b.WriteString("| target | round | h2 req/s | h3 req/s | h3/h2 | h2 CPU µs/req | h3 CPU µs/req | h2 p99 µs | h3 p99 µs | errors h2 / h3 |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range rs.targets {
			h2, h3 := rs.rounds("d-h2", t), rs.rounds("d-h3", t)
			if len(h2) == 0 && len(h3) == 0 {
				continue
			}
			var ratios []float64
			keys := slices.Sorted(maps.Keys(h2))
			for _, k := range keys {
				a, z := h2[k], h3[k]
				if z == nil {
					continue
				}
				ratio := 0.0
				if a.RPS > 0 {
					ratio = z.RPS / a.RPS
					ratios = append(ratios, ratio)
				}
				fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f | %.1f | %.1f | %s | %s | %d / %d |\n", t, k, a.RPS, z.RPS, ratio,
					a.CPUPerReq, z.CPUPerReq, medianOf(map[int]*Result{0: a}, func(r *Result) (float64, bool) { return p99(r.Lat) }),
					medianOf(map[int]*Result{0: z}, func(r *Result) (float64, bool) { return p99(r.Lat) }), a.Errors, z.Errors)
			}
			fmt.Fprintf(&b, "| %s | median | %s | %s | %s | %s | %s | | | |\n", t,
				medianOf(h2, val(func(r *Result) float64 { return r.RPS })), medianOf(h3, val(func(r *Result) float64 { return r.RPS })),
				fmtMedian(ratios, "**%.2f**"), medianOf(h2, cpuPerReq), medianOf(h3, cpuPerReq))
		}
	}

	if rs.has("e") {
		b.WriteString("\n## E. Concurrent slow streams through crossroads (RSS flatness)\n\n")
		b.WriteString("Run 0 is the first load on a fresh node; runs 1.. repeat it. Flat RSS after each run means no per-stream memory is kept.\n\n")
		b.WriteString("| target | run | streams ok | errors | unfinished | TTFT p99 µs | gap p99 µs | RSS start MiB | RSS max MiB | RSS after run MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range rs.targets {
			m := rs.rounds("e", t)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				r := m[k]
				ttft, gap := "–", "–"
				if v, ok := p99(r.TTFT); ok {
					ttft = fmt.Sprintf("%.0f", v)
				}
				if v, ok := p99(r.Gap); ok {
					gap = fmt.Sprintf("%.0f", v)
				}
				fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %s | %s | %.1f | %.1f | %.1f |\n", t, k, r.OK,
					errorSummary(map[int]*Result{0: r}), r.Unfinished, ttft, gap, mib(r.RSSStartKiB), mib(r.RSSMaxKiB), mib(r.RSSFinalKiB))
			}
		}
	}

	b.WriteString("\n## Raw runs\n\n")
	b.WriteString(mdHeader())
	for _, r := range rs.all {
		row := r.mdRow()
		if r.Round != 0 {
			row = strings.Replace(row, "| "+orDash(r.Scenario)+" |", fmt.Sprintf("| %s#%d |", orDash(r.Scenario), r.Round), 1)
		}
		b.WriteString(row)
	}
	_, err = io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("loadgen: write report: %w", err)
	}
	return nil
}
