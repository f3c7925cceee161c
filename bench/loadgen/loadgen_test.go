package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
)

func TestBucketPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := uint64(rng.Int64N(int64(1) << 41))
		got := bucketValue(bucketOf(v))
		if v < linearTop {
			if got != v {
				t.Fatalf("exact range: %d -> %d", v, got)
			}
			continue
		}
		if rel := math.Abs(float64(got)-float64(v)) / float64(v); rel > 0.008 {
			t.Fatalf("%d -> %d: error %.4f", v, got, rel)
		}
	}
	if bucketOf(math.MaxUint64) != numBuckets-1 {
		t.Error("huge values must clamp to the last bucket")
	}
}

func TestHistQuantiles(t *testing.T) {
	h := newHist(4)
	for i := 1; i <= 100000; i++ {
		h.record(i, time.Duration(i)*time.Microsecond)
	}
	sn := h.snapshot()
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"p50", 0.5, 50 * time.Millisecond},
		{"p90", 0.9, 90 * time.Millisecond},
		{"p99", 0.99, 99 * time.Millisecond},
		{"p99.9", 0.999, 99900 * time.Microsecond},
		{"max", 1, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sn.quantile(tc.q)
			if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.01 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if sn.n != 100000 || time.Duration(sn.max) != 100*time.Millisecond {
		t.Errorf("n %d max %v", sn.n, time.Duration(sn.max))
	}
}

func TestHasErrorField(t *testing.T) {
	tests := []struct {
		name string
		ev   string
		want bool
	}{
		{"plain chunk", `{"choices":[{"delta":{"content":"hi"}}]}`, false},
		{"error null", `{"choices":[],"error":null}`, false},
		{"error object", `{"error":{"message":"boom","type":"server_error"}}`, true},
		{"error after null", `{"error":null,"x":{"error": {"m":1}}}`, true},
		{"finish error", `{"choices":[{"delta":{},"finish_reason":"error"}]}`, true},
		{"escaped in content", `{"choices":[{"delta":{"content":"say \"error\":{ now"}}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasErrorField([]byte(tc.ev)); got != tc.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestProc(t *testing.T) {
	// Burn a little CPU so utime moves past one tick.
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("cpu %v err %v", cpu, err)
	}
	rss, err := procRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d err %v", rss, err)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("missing pid must fail")
	}
}

// target is a fake upstream reachable over one protocol.
type target struct {
	url string
	ca  string
}

func startTarget(t *testing.T, proto string, cfg fakeupstream.Config) (*fakeupstream.Server, target) {
	t.Helper()
	fake := fakeupstream.New(cfg)
	t.Cleanup(fake.Close)
	switch proto {
	case "h1":
		ts := httptest.NewServer(fake)
		t.Cleanup(ts.Close)
		return fake, target{url: ts.URL + "/v1/chat/completions"}
	case "h2c":
		ts := httptest.NewUnstartedServer(fake)
		ts.Config.Protocols = new(http.Protocols)
		ts.Config.Protocols.SetHTTP1(true)
		ts.Config.Protocols.SetUnencryptedHTTP2(true)
		ts.Start()
		t.Cleanup(ts.Close)
		return fake, target{url: ts.URL + "/v1/chat/completions"}
	case "h2":
		ts := httptest.NewUnstartedServer(fake)
		ts.EnableHTTP2 = true
		ts.StartTLS()
		t.Cleanup(ts.Close)
		return fake, target{url: ts.URL + "/v1/chat/completions", ca: writeCA(t, ts.Certificate().Raw)}
	case "h3":
		// Borrow httptest's certificate (SAN 127.0.0.1) for the QUIC server.
		ts := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(ts.Close)
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http3.Server{
			Handler:   fake,
			TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: ts.TLS.Certificates}),
		}
		go func() { _ = srv.Serve(pc) }()
		t.Cleanup(func() { _ = srv.Close(); _ = pc.Close() })
		return fake, target{url: "https://" + pc.LocalAddr().String() + "/v1/chat/completions", ca: writeCA(t, ts.Certificate().Raw)}
	}
	t.Fatalf("unknown proto %s", proto)
	return nil, target{}
}

func writeCA(t *testing.T, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runLoad(t *testing.T, tg target, args ...string) *Result {
	t.Helper()
	args = append([]string{"-url", tg.url}, args...)
	if tg.ca != "" {
		args = append(args, "-ca", tg.ca)
	}
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := load(o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestProtocols(t *testing.T) {
	for _, proto := range []string{"h1", "h2c", "h2", "h3"} {
		for _, stream := range []bool{false, true} {
			name := proto + "/non-stream"
			if stream {
				name = proto + "/stream"
			}
			t.Run(name, func(t *testing.T) {
				fake, tg := startTarget(t, proto, fakeupstream.Config{Chunks: 5})
				args := []string{"-proto", proto, "-c", "4", "-conns", "2", "-n", "40", "-d", "20s", "-pid", "0"}
				if stream {
					args = append(args, "-stream", "-include-usage")
				}
				res := runLoad(t, tg, args...)
				if res.OK != 40 || res.Errors != 0 {
					t.Fatalf("ok %d errors %d %v %v", res.OK, res.Errors, res.ErrorKinds, res.ErrorEx)
				}
				// prewarm sends one extra request per connection on h2/h3
				if got := fake.Stats().Completed; got < 40 {
					t.Errorf("upstream completed %d", got)
				}
				if proto == "h2" || proto == "h2c" {
					if res.Dials != 2 {
						t.Errorf("%d TCP dials for -conns 2", res.Dials)
					}
				}
				if stream {
					// role + 5 content + finish + usage
					if res.ChunksPerStream != 8 || res.TTFT == nil || res.Gap == nil {
						t.Errorf("chunks/stream %.1f ttft %v gap %v", res.ChunksPerStream, res.TTFT, res.Gap)
					}
				}
				if res.Lat == nil || res.Lat.P50 <= 0 || res.RPS <= 0 {
					t.Errorf("no latency: %+v", res.Lat)
				}
			})
		}
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name   string
		fail   string
		stream bool
		kind   string
	}{
		{"429", "429", false, "status-429"},
		{"500 stream", "500", true, "status-500"},
		{"cut non-stream", "cut", false, "body-read"},
		{"cut stream", "cut", true, "stream-cut"},
		{"malformed json", "malformed-json", false, "bad-json"},
		{"malformed sse", "malformed-sse", true, "bad-sse-json"},
		{"stream error", "stream-error", true, "error-event"},
		{"error body", "stream-error", false, "error-body"},
	}
	_, tg := startTarget(t, "h1", fakeupstream.Config{Chunks: 4})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-c", "2", "-n", "6", "-H", "X-Fake-Fail: " + tc.fail}
			if tc.stream {
				args = append(args, "-stream")
			}
			res := runLoad(t, tg, args...)
			if res.OK != 0 || res.Errors != 6 || res.ErrorKinds[tc.kind] != 6 {
				t.Errorf("ok %d errors %d kinds %v", res.OK, res.Errors, res.ErrorKinds)
			}
		})
	}
}

func TestHangIsUnfinished(t *testing.T) {
	fake, tg := startTarget(t, "h1", fakeupstream.Config{Fail: fakeupstream.FailHang})
	res := runLoad(t, tg, "-c", "3", "-d", "200ms", "-drain", "100ms")
	if res.Unfinished != 3 || res.Errors != 0 || res.OK != 0 {
		t.Errorf("unfinished %d errors %d ok %d", res.Unfinished, res.Errors, res.OK)
	}
	deadline := time.After(2 * time.Second)
	for n := 0; n < 3; n++ {
		select {
		case <-fake.Canceled():
		case <-deadline:
			t.Fatalf("upstream saw %d cancels, want 3", n)
		}
	}
}

func TestOpenLoop(t *testing.T) {
	fake, tg := startTarget(t, "h1", fakeupstream.Config{})
	res := runLoad(t, tg, "-rate", "200", "-d", "500ms", "-warmup", "100ms", "-max-inflight", "8", "-pid", strconv.Itoa(os.Getpid()))
	if res.Mode != "open" || res.LatSched == nil {
		t.Fatalf("mode %s sched %v", res.Mode, res.LatSched)
	}
	// 200/s over 0.5 s measured, plus 20 warm-up sends that are not recorded
	if res.Requests < 90 || res.Requests > 101 || fake.Stats().Requests < 110 {
		t.Errorf("recorded %d, upstream saw %d", res.Requests, fake.Stats().Requests)
	}
	if res.LatSched.P50 < res.Lat.P50 {
		t.Errorf("latency from schedule (%v) below latency from send (%v)", res.LatSched.P50, res.Lat.P50)
	}
	if res.TargetPID == 0 || res.RSSMaxKiB == 0 {
		t.Errorf("no process stats: %+v", res)
	}
}

func TestReport(t *testing.T) {
	mk := func(scen, label string, round int, rps, p50, cpu float64, stream bool, chunks float64) string {
		r := Result{Label: label, Scenario: scen, Round: round, Proto: "h1", Mode: "closed", C: 1, RPS: rps,
			OK: 100, Requests: 100, Lat: &Pcts{P50: p50, P99: p50 * 2}, TargetPID: 1, CPUPerReq: cpu, Stream: stream, ChunksPerStream: chunks}
		if stream {
			r.TTFT = &Pcts{P50: p50 / 2, P99: p50}
			r.Gap = &Pcts{P50: 3, P99: 20, Max: 100}
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{
		mk("a", "direct", 1, 5000, 100, 10, false, 0),
		mk("a", "floor", 1, 4000, 300, 50, false, 0),
		mk("a", "direct", 2, 5000, 110, 10, false, 0),
		mk("a", "floor", 2, 4000, 330, 50, false, 0),
		mk("c64", "floor", 1, 4000, 300, 100, true, 22),
		mk("c64x200", "floor", 1, 400, 3000, 1000, true, 202),
		mk("d-h2", "crossroads", 1, 1000, 300, 40, false, 0),
		mk("d-h3", "crossroads", 1, 1500, 300, 30, false, 0),
		mk("e", "crossroads", 0, 10, 1e6, 1, true, 102),
	}
	p := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := writeReport(p, &sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"| floor | 4000 | 315 | 630 | 200, 220 | **210** |", // added p50 per round and median
		"| floor | 100 | 1000 | 5.00 | **5.00** |",          // marginal CPU per chunk: 900/180
		"| **1.50** |", // h3/h2
		"## E.",
		"c64x200#1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestLongEvents(t *testing.T) {
	// Each content event is ~10 KB, beyond the worker's 4 KiB line buffer.
	_, tg := startTarget(t, "h1", fakeupstream.Config{Chunks: 2, ContentBytes: 20000})
	res := runLoad(t, tg, "-c", "2", "-n", "10", "-stream")
	if res.OK != 10 || res.ChunksPerStream != 4 {
		t.Errorf("ok %d chunks/stream %.1f kinds %v", res.OK, res.ChunksPerStream, res.ErrorKinds)
	}
}
