package edge

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// fileWatch notices changes to the configuration and catalog files by their size and
// modification time. Polling a handful of files every few seconds costs nothing and, unlike
// inotify, also sees files replaced through a symlink swap (Kubernetes ConfigMaps).
type fileWatch struct {
	mu    sync.Mutex
	files map[string]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newFileWatch(paths ...string) *fileWatch {
	w := &fileWatch{}
	w.update(paths...)
	return w
}

// update records the current state of the watched files (after a reload read them).
func (w *fileWatch) update(paths ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files = map[string]fileStamp{}
	for _, p := range paths {
		if p != "" {
			w.files[p] = stamp(p)
		}
	}
}

// changed reports whether any watched file differs from what update recorded.
func (w *fileWatch) changed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, s := range w.files {
		if stamp(p) != s {
			return true
		}
	}
	return false
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// reloadIfChanged reloads the node when its files changed since the last look.
func (n *Node) reloadIfChanged() {
	if !n.watch.changed() {
		return
	}
	if err := n.Reload(); err != nil {
		// Keep the old generation and stop retrying the same broken file every tick.
		n.log.Error("configuration reload failed; still serving the previous configuration", "err", err)
		n.watch.update(n.cfgFile, n.gen.Load().cfg.CatalogFile)
	}
}

// writeEndpointMetrics exposes the live health of every endpoint that has seen traffic or
// is out of rotation: what an operator's dashboard and alerts need per provider.
func (n *Node) writeEndpointMetrics(w io.Writer) {
	g := n.gen.Load()
	g.plugins.WriteMetrics(w)
	if n.cache != nil {
		n.cache.WriteMetrics(w)
	}
	now := time.Now().UnixNano()
	type row struct {
		key                       string
		circuit, degraded, flight int64
		ttft, tput, errRate       float64
	}
	var rows []row
	for _, ep := range g.cat.Endpoints() {
		h := g.router.Health(ep.ID)
		st := h.State(now)
		if st == health.Closed && h.TTFT() == 0 && h.Inflight() == 0 && h.ErrorRate() == 0 {
			continue
		}
		deg := int64(0)
		if h.Degraded(now) {
			deg = 1
		}
		rows = append(rows, row{ep.Key, int64(st), deg, h.Inflight(), h.TTFT().Seconds(), h.Throughput(), h.ErrorRate()})
	}
	var b strings.Builder
	series := func(name, help, typ string, v func(r row) string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, r := range rows {
			fmt.Fprintf(&b, "%s{endpoint=%q} %s\n", name, r.key, v(r))
		}
	}
	series("crossroads_endpoint_circuit", "Circuit breaker state: 0 closed, 1 open, 2 half-open.", "gauge", func(r row) string { return fmt.Sprint(r.circuit) })
	series("crossroads_endpoint_degraded", "1 when the endpoint failed significantly in the last window.", "gauge", func(r row) string { return fmt.Sprint(r.degraded) })
	series("crossroads_endpoint_inflight", "Attempts in flight.", "gauge", func(r row) string { return fmt.Sprint(r.flight) })
	series("crossroads_endpoint_ttft_seconds", "Time to first byte, moving average.", "gauge", func(r row) string { return fmt.Sprint(finite(r.ttft)) })
	series("crossroads_endpoint_throughput_tokens_per_second", "Completion tokens per second, moving average.", "gauge", func(r row) string { return fmt.Sprint(finite(r.tput)) })
	series("crossroads_endpoint_error_rate", "Share of failed attempts, moving average.", "gauge", func(r row) string { return fmt.Sprint(finite(r.errRate)) })
	_, _ = io.WriteString(w, b.String())
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
