package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runner is one load run.
type runner struct {
	o       *options
	body    []byte
	tmpl    *http.Request
	cl      *clients
	workers int

	ctx    context.Context // cancelled when the drain period is over
	cancel context.CancelFunc

	begin        time.Time // first send (warm-up starts)
	measureStart time.Time // end of warm-up
	stopAt       time.Time // no new sends after this
	issued       atomic.Int64

	lat, latSched, ttfb, ttft, gap *hist

	ok, failed, unfinished, chunks, late atomic.Int64
	streamsOK                            atomic.Int64
	lastEnd                              atomic.Int64 // unix ns of the last recorded completion

	errMu    sync.Mutex
	errKinds map[string]int64
	errEx    map[string]string
}

// worker owns the buffers a request needs so the steady state allocates
// little beyond what net/http itself does.
type worker struct {
	id   int
	rt   http.RoundTripper
	br   *bufio.Reader
	buf  []byte // non-stream body
	ev   []byte // current SSE event data
	long []byte // a line longer than br's buffer
}

// reqBody is a fresh reader per request over the shared, immutable body.
// Transports may still read a request body after RoundTrip returns (h2 and h3
// write it from another goroutine), so a per-worker reader reset for the next
// request could race; this 32-byte allocation is the price of not racing.
type reqBody struct {
	b   []byte
	off int
}

func (r *reqBody) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *reqBody) Close() error { return nil }

func newRunner(o *options, body []byte, cl *clients, workers int) (*runner, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, fmt.Errorf("loadgen: parse -url: %w", err)
	}
	hdr := make(http.Header, len(o.headers)+3)
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", "crossroads-loadgen/1")
	if o.stream {
		hdr.Set("Accept", "text/event-stream")
	}
	for _, kv := range o.headers {
		hdr.Add(kv[0], kv[1])
	}
	r := &runner{
		o:        o,
		body:     body,
		cl:       cl,
		workers:  workers,
		errKinds: map[string]int64{},
		errEx:    map[string]string{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	tmpl, err := http.NewRequestWithContext(r.ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: build request: %w", err)
	}
	tmpl.Header = hdr
	tmpl.ContentLength = int64(len(body))
	tmpl.GetBody = func() (io.ReadCloser, error) { return &reqBody{b: body}, nil }
	r.tmpl = tmpl
	shards := min(workers, 16)
	r.lat, r.latSched, r.ttfb, r.ttft, r.gap = newHist(shards), newHist(shards), newHist(shards), newHist(shards), newHist(shards)
	return r, nil
}

func (r *runner) noteErr(kind, example string) {
	r.failed.Add(1)
	r.errMu.Lock()
	r.errKinds[kind]++
	if _, ok := r.errEx[kind]; !ok && example != "" {
		if len(example) > 200 {
			example = example[:200]
		}
		r.errEx[kind] = example
	}
	r.errMu.Unlock()
}

// claim reserves one send for a closed-loop worker.
func (r *runner) claim() bool {
	if !time.Now().Before(r.stopAt) || r.ctx.Err() != nil {
		return false
	}
	if r.o.n > 0 && r.issued.Add(1) > r.o.n {
		return false
	}
	return true
}

// prewarm opens every multiplexed connection before the workers start.
// Without it the first burst of concurrent requests on an h2 transport dials
// one connection each, and -conns would mean nothing. It sends a cheap
// GET /v1/models (any status will do: only the connection matters), in
// parallel, so a slow target does not delay the run; and it fails fast on a
// wrong address or CA.
func (r *runner) prewarm() error {
	if r.o.proto == "h1" {
		return nil
	}
	u := *r.tmpl.URL
	u.Path, u.RawPath, u.RawQuery = "/v1/models", "", ""
	errs := make([]error, len(r.cl.rts))
	var wg sync.WaitGroup
	for i, rt := range r.cl.rts {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("User-Agent", r.tmpl.Header.Get("User-Agent"))
			for _, kv := range r.o.headers {
				req.Header.Add(kv[0], kv[1])
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				errs[i] = fmt.Errorf("loadgen: open connection %d: %w", i, err)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// start runs the workers; it returns when every send has finished or the
// drain period is over.
func (r *runner) start() {
	r.begin = time.Now()
	r.measureStart = r.begin.Add(r.o.warmup)
	r.stopAt = r.measureStart.Add(r.o.d)

	var wg sync.WaitGroup
	ws := make([]*worker, r.workers)
	for i := range ws {
		ws[i] = &worker{id: i, rt: r.cl.rts[i%len(r.cl.rts)]}
	}
	if r.o.rate > 0 {
		sched := make(chan time.Time)
		for _, w := range ws {
			wg.Go(func() {
				for t := range sched {
					r.do(w, t)
				}
			})
		}
		r.dispatch(sched)
	} else {
		for _, w := range ws {
			wg.Go(func() {
				for r.claim() {
					r.do(w, time.Time{})
				}
			})
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Sends stop at stopAt; give the ones in flight time to finish, then
	// cancel them (they count as unfinished, not as errors).
	wait := time.Until(r.stopAt) + r.o.drain
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.cancel()
		<-done
	}
	r.cancel()
}

// dispatch schedules sends on a fixed grid. When every worker is busy the
// send waits; latency from the scheduled time then shows the queueing a real
// client would see (no coordinated omission), and the grid catches up.
func (r *runner) dispatch(sched chan<- time.Time) {
	defer close(sched)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		if r.o.n > 0 && i >= r.o.n {
			return
		}
		at := r.begin.Add(time.Duration(float64(i) * float64(time.Second) / r.o.rate))
		if !at.Before(r.stopAt) {
			return
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.ctx.Done():
				return
			}
		}
		select {
		case sched <- at:
		case <-r.ctx.Done():
			return
		}
	}
}

func (r *runner) do(w *worker, sched time.Time) {
	req := new(http.Request)
	*req = *r.tmpl
	req.Body = &reqBody{b: r.body}

	t0 := time.Now()
	from := t0
	if !sched.IsZero() {
		from = sched
	}
	rec := !from.Before(r.measureStart)
	if rec && !sched.IsZero() && t0.Sub(sched) > time.Millisecond {
		r.late.Add(1)
	}

	resp, err := w.rt.RoundTrip(req)
	if err != nil {
		if rec {
			r.noteTransportErr(err)
		}
		return
	}
	tHdr := time.Now()
	kind, example := "", ""
	var nchunks int64
	switch {
	case resp.StatusCode != http.StatusOK:
		kind = "status-" + strconv.Itoa(resp.StatusCode)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		example = string(b)
		// Drain the rest so the keep-alive connection survives the error.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	case resp.ProtoMajor != r.cl.proto:
		kind, example = "proto-mismatch", resp.Proto
		_, _ = io.Copy(io.Discard, resp.Body)
	case r.o.stream:
		kind, example, nchunks = r.readStream(w, resp.Body, t0, rec)
	default:
		kind, example = r.readJSON(w, resp.Body)
	}
	resp.Body.Close()
	end := time.Now()
	if !rec {
		return
	}
	if kind == "unfinished" {
		r.unfinished.Add(1)
		return
	}
	r.chunks.Add(nchunks)
	if kind != "" {
		r.noteErr(kind, example)
	} else {
		r.ok.Add(1)
		if r.o.stream {
			r.streamsOK.Add(1)
		}
	}
	r.lat.record(w.id, end.Sub(t0))
	r.ttfb.record(w.id, tHdr.Sub(t0))
	if !sched.IsZero() {
		r.latSched.record(w.id, end.Sub(sched))
	}
	for {
		last := r.lastEnd.Load()
		if end.UnixNano() <= last || r.lastEnd.CompareAndSwap(last, end.UnixNano()) {
			break
		}
	}
}

func (r *runner) noteTransportErr(err error) {
	var ne net.Error
	switch {
	case r.ctx.Err() != nil && errors.Is(err, context.Canceled):
		r.unfinished.Add(1)
		return
	case errors.Is(err, syscall.ECONNREFUSED):
		r.noteErr("conn-refused", err.Error())
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		r.noteErr("conn-reset", err.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		r.noteErr("conn-eof", err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		r.noteErr("timeout", err.Error())
	default:
		r.noteErr("transport", err.Error())
	}
}

func (r *runner) readErrKind(err error) (string, string) {
	if r.ctx.Err() != nil {
		return "unfinished", ""
	}
	return "body-read", err.Error()
}

// readJSON reads a non-stream answer into the worker's buffer. OK means valid
// JSON carrying at least one choice; json.Valid does not allocate, which
// keeps the generator cheap next to the target.
func (r *runner) readJSON(w *worker, body io.Reader) (string, string) {
	b := w.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			w.buf = b[:0]
			return r.readErrKind(err)
		}
	}
	w.buf = b[:0]
	switch {
	case !json.Valid(b):
		return "bad-json", string(b[:min(len(b), 200)])
	case bytes.HasPrefix(b, []byte(`{"error"`)):
		return "error-body", string(b[:min(len(b), 200)])
	case !bytes.Contains(b, []byte(`"choices":[{`)):
		return "no-choices", string(b[:min(len(b), 200)])
	}
	return "", ""
}

// readStream consumes an SSE body. OK means: every event's data is valid JSON
// (or [DONE]), no event carries an error, [DONE] arrived, and the body ended
// cleanly.
func (r *runner) readStream(w *worker, body io.Reader, t0 time.Time, rec bool) (kind, example string, chunks int64) {
	if w.br == nil {
		w.br = bufio.NewReaderSize(body, 4<<10) // 10,000 workers × 4 KiB; longer lines take the slow path
	} else {
		w.br.Reset(body)
	}
	var (
		done, errEvent, badJSON bool
		prev                    time.Time
		badEx                   string
		haveData                bool
	)
	ev := w.ev[:0]
	dispatch := func() {
		if !haveData {
			return
		}
		haveData = false
		if string(ev) == "[DONE]" {
			done = true
			ev = ev[:0]
			return
		}
		now := time.Now()
		chunks++
		if rec {
			if prev.IsZero() {
				r.ttft.record(w.id, now.Sub(t0))
			} else {
				r.gap.record(w.id, now.Sub(prev))
			}
		}
		prev = now
		if !badJSON && !errEvent {
			if r.o.validate && !json.Valid(ev) {
				badJSON, badEx = true, string(ev[:min(len(ev), 200)])
			} else if hasErrorField(ev) {
				errEvent, badEx = true, string(ev[:min(len(ev), 200)])
			}
		}
		ev = ev[:0]
	}
	var readErr error
	for {
		line, err := w.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			w.long = append(w.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = w.br.ReadSlice('\n')
				w.long = append(w.long, line...)
			}
			line = w.long
		}
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			switch {
			case len(line) == 0:
				dispatch()
			case line[0] == ':': // comment, e.g. keep-alive
			default:
				if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					v = bytes.TrimPrefix(v, []byte(" "))
					if haveData {
						ev = append(ev, '\n')
					}
					ev = append(ev, v...)
					haveData = true
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	dispatch() // a last event without its blank line still counts
	w.ev = ev[:0]

	switch {
	case readErr != nil:
		if k, _ := r.readErrKind(readErr); k == "unfinished" {
			return k, "", chunks
		}
		return "stream-cut", readErr.Error(), chunks
	case errEvent:
		return "error-event", badEx, chunks
	case badJSON:
		return "bad-sse-json", badEx, chunks
	case !done:
		return "no-done", "", chunks
	}
	return "", "", chunks
}

var (
	errorKey      = []byte(`"error":`)
	finishedError = []byte(`"finish_reason":"error"`)
)

// hasErrorField reports an "error" member whose value is not null, or a
// finish_reason of "error". A quote inside a JSON string is escaped, so the
// raw bytes `"error":` can only be a key.
func hasErrorField(ev []byte) bool {
	if bytes.Contains(ev, finishedError) {
		return true
	}
	for rest := ev; ; {
		i := bytes.Index(rest, errorKey)
		if i < 0 {
			return false
		}
		rest = bytes.TrimLeft(rest[i+len(errorKey):], " \t")
		if !bytes.HasPrefix(rest, []byte("null")) {
			return true
		}
	}
}
