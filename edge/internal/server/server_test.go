package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func TestProtocols(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	})
	s, _ := startServer(t, testConfig(t), h)
	altSvc := `h3=":` + tlsPort(t, s) + `"; ma=2592000`

	tests := []struct {
		name       string
		proto      string
		wantAltSvc string
	}{
		{name: "HTTP/1.1 over TLS advertises h3", proto: protoH1, wantAltSvc: altSvc},
		{name: "HTTP/2 over TLS advertises h3", proto: protoH2, wantAltSvc: altSvc},
		{name: "HTTP/3 does not advertise itself", proto: protoH3},
		{name: "plain HTTP/1.1 does not advertise", proto: protoPlain},
		{name: "h2c does not advertise", proto: protoH2C},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, base := client(t, s, tt.proto)
			resp, err := c.Get(base + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != wantProtoMajor(tt.proto) {
				t.Errorf("client saw %s, want HTTP/%d", resp.Proto, wantProtoMajor(tt.proto))
			}
			if got := string(body); got != resp.Proto {
				t.Errorf("handler saw %s, client saw %s", got, resp.Proto)
			}
			if got := resp.Header.Get("Alt-Svc"); got != tt.wantAltSvc {
				t.Errorf("Alt-Svc = %q, want %q", got, tt.wantAltSvc)
			}
		})
	}
}

// TestAltSvcMatchesQUICHeaders pins our precomputed header to what quic-go
// itself would emit, so a quic-go upgrade that changes the format shows up.
func TestAltSvcMatchesQUICHeaders(t *testing.T) {
	s, _ := startServer(t, testConfig(t), http.NotFoundHandler())
	var hdr http.Header
	ok := waitFor(2*time.Second, func() bool {
		hdr = http.Header{}
		return s.h3Srv.SetQUICHeaders(hdr) == nil
	})
	if !ok {
		t.Fatal("http3.Server never registered its listener")
	}
	want := altSvcValue(s.TLSAddr().(*net.TCPAddr).Port)
	if got := hdr.Values("Alt-Svc"); len(got) != 1 || got[0] != want[0] {
		t.Errorf("SetQUICHeaders = %q, ours = %q", got, want)
	}
}

func TestStreamingIsIncremental(t *testing.T) {
	const gap = 50 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := flush(w); err != nil {
				t.Errorf("flush: %v", err)
				return
			}
		}
	})
	s, _ := startServer(t, testConfig(t), h)

	for _, proto := range []string{protoH1, protoH2, protoH3, protoPlain, protoH2C} {
		t.Run(proto, func(t *testing.T) {
			c, base := client(t, s, proto)
			resp, err := c.Get(base + "/stream")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			var arrivals []time.Time
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if strings.HasPrefix(line, "data: ") {
					arrivals = append(arrivals, time.Now())
				}
				if err != nil {
					break
				}
			}
			if len(arrivals) != 3 {
				t.Fatalf("got %d events, want 3", len(arrivals))
			}
			// Had the response been buffered, all events would arrive together.
			for i := 1; i < 3; i++ {
				if d := arrivals[i].Sub(arrivals[i-1]); d < gap/2 {
					t.Errorf("event %d arrived %v after event %d; want about %v", i, d, i-1, gap)
				}
			}
		})
	}
}

func TestClientDisconnectCancelsContext(t *testing.T) {
	type result struct {
		proto string
		at    time.Time
	}
	started := make(chan struct{}, 1)
	cancelled := make(chan result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": open\n\n")
		_ = flush(w)
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- result{r.Proto, time.Now()}
		case <-time.After(5 * time.Second):
		}
	})
	s, _ := startServer(t, testConfig(t), h)

	tests := []struct {
		name  string
		proto string
	}{
		{name: "HTTP/1.1 closes the connection", proto: protoH1},
		{name: "HTTP/2 resets the stream", proto: protoH2},
		{name: "HTTP/3 stops the stream", proto: protoH3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, base := client(t, s, tt.proto)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			<-started
			cancelAt := time.Now()
			cancel()
			select {
			case r := <-cancelled:
				if d := r.at.Sub(cancelAt); d > 100*time.Millisecond {
					t.Errorf("%s: handler context cancelled %v after the client left, want <= 100ms", r.proto, d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("handler context was not cancelled")
			}
		})
	}
}

func TestShutdownCancelsStreamsWithCause(t *testing.T) {
	tests := []struct {
		name  string
		proto string
	}{
		{name: "HTTP/1.1", proto: protoH1},
		{name: "HTTP/2", proto: protoH2},
		{name: "HTTP/3 derives request contexts from ConnContext", proto: protoH3},
		{name: "h2c", proto: protoH2C},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			causes := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, "data: start\n\n")
				_ = flush(w)
				<-r.Context().Done()
				causes <- context.Cause(r.Context())
				// The terminal event a streaming handler sends on ErrShutdown.
				fmt.Fprint(w, "data: final\n\n")
				_ = flush(w)
			})
			cfg := testConfig(t)
			cfg.ShutdownGrace = time.Second
			s, served := startServer(t, cfg, h)
			c, base := client(t, s, tt.proto)
			resp, err := c.Get(base + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if line, err := br.ReadString('\n'); line != "data: start\n" {
				t.Fatalf("first line = %q, %v", line, err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			shutdownErr := make(chan error, 1)
			go func() { shutdownErr <- s.Shutdown(ctx) }()

			rest, _ := io.ReadAll(br)
			if !strings.Contains(string(rest), "data: final\n") {
				t.Errorf("final event did not reach the client; got %q", rest)
			}
			select {
			case cause := <-causes:
				if !errors.Is(cause, ErrShutdown) {
					t.Errorf("context cause = %v, want ErrShutdown", cause)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("handler context was never cancelled")
			}
			select {
			case err := <-shutdownErr:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Shutdown did not return")
			}
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve = %v, want nil", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Serve did not return after Shutdown")
			}
		})
	}
}

func TestShutdownWaitsForInFlightHandler(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "done")
	})
	s, served := startServer(t, testConfig(t), h)
	c, base := client(t, s, protoH3)

	got := make(chan string, 1)
	go func() {
		resp, err := c.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v with a handler in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight response = %q, want done", b)
	}
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the handler finished")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestShutdownIdle(t *testing.T) {
	tests := []struct {
		name string
		// prepare opens connections that stay idle across the shutdown.
		prepare func(t *testing.T, s *Server)
		within  time.Duration
	}{
		{
			name:    "never used",
			prepare: func(*testing.T, *Server) {},
			within:  500 * time.Millisecond,
		},
		{
			name: "keep-alive connections on every protocol",
			prepare: func(t *testing.T, s *Server) {
				for _, proto := range []string{protoH1, protoH2, protoH3, protoPlain, protoH2C} {
					c, base := client(t, s, proto)
					resp, err := c.Get(base + "/")
					if err != nil {
						t.Fatalf("%s GET: %v", proto, err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			},
			// net/http's HTTP/2 server waits 1 s after its graceful GOAWAY
			// before closing an idle connection (golang.org/issue/18701).
			within: 1500 * time.Millisecond,
		},
		{
			// A QUIC connection without an HTTP/3 client behind it ignores
			// GOAWAY, as a misbehaving client would.
			name: "QUIC connection that ignores GOAWAY",
			prepare: func(t *testing.T, s *Server) {
				conn, err := quic.DialAddr(context.Background(), s.TLSAddr().String(),
					&tls.Config{RootCAs: certPool(t, s.CertFile()), NextProtos: []string{"h3"}}, nil)
				if err != nil {
					t.Fatalf("dial QUIC: %v", err)
				}
				t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
			},
			within: h3IdleQuiet + time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, served := startServer(t, testConfig(t), http.NotFoundHandler())
			tt.prepare(t, s)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			if d := time.Since(start); d > tt.within {
				t.Errorf("Shutdown took %v, want <= %v", d, tt.within)
			}
			if err := <-served; err != nil {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

func TestNoNewConnectionsAfterShutdown(t *testing.T) {
	s, _ := startServer(t, testConfig(t), http.NotFoundHandler())
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	tests := []struct {
		name string
		dial func() error
	}{
		{name: "TLS over TCP", dial: func() error {
			c, err := net.DialTimeout("tcp", s.TLSAddr().String(), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}},
		{name: "plain TCP", dial: func() error {
			c, err := net.DialTimeout("tcp", s.PlainAddr().String(), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}},
		{name: "QUIC", dial: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			c, err := quic.DialAddr(ctx, s.TLSAddr().String(),
				&tls.Config{RootCAs: certPool(t, s.CertFile()), NextProtos: []string{"h3"}}, nil)
			if err == nil {
				c.CloseWithError(0, "")
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.dial(); err == nil {
				t.Error("connection accepted after Shutdown")
			}
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, served := startServer(t, testConfig(t), http.NotFoundHandler())
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d = %v", i+1, err)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Close = %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestCloseWithoutServe(t *testing.T) {
	s, err := New(testConfig(t), http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.TLSAddr().String()
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	// The ports must be released even though Serve never took ownership.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("TCP port still bound after Close: %v", err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP port still bound after Close: %v", err)
	}
	pc.Close()
	if err := s.Serve(); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(t *testing.T) Config
		handler http.Handler
		want    string
	}{
		{
			name:    "nil handler",
			cfg:     testConfig,
			handler: nil,
			want:    "nil handler",
		},
		{
			name:    "no listeners",
			cfg:     func(*testing.T) Config { return Config{} },
			handler: http.NotFoundHandler(),
			want:    "no listener",
		},
		{
			name: "cert without key",
			cfg: func(t *testing.T) Config {
				c := testConfig(t)
				c.CertFile = "cert.pem"
				return c
			},
			handler: http.NotFoundHandler(),
			want:    "must be set together",
		},
		{
			name: "generated cert without DataDir",
			cfg: func(t *testing.T) Config {
				c := testConfig(t)
				c.DataDir = ""
				return c
			},
			handler: http.NotFoundHandler(),
			want:    "DataDir is required",
		},
		{
			name: "missing cert files",
			cfg: func(t *testing.T) Config {
				c := testConfig(t)
				c.CertFile, c.KeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
				return c
			},
			handler: http.NotFoundHandler(),
			want:    "server: load certificate",
		},
		{
			name: "port taken",
			cfg: func(t *testing.T) Config {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				c := testConfig(t)
				c.TLSAddr = ln.Addr().String()
				return c
			},
			handler: http.NotFoundHandler(),
			want:    "server: listen tls",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg(t), tt.handler)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestListenersCanBeDisabled(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		plain     bool
		http3     bool
		wantProto []string
	}{
		{name: "TLS only, no HTTP/3", tls: true, wantProto: []string{protoH1, protoH2}},
		{name: "plain only", plain: true, wantProto: []string{protoPlain, protoH2C}},
		{name: "HTTP/3 requested without TLS is ignored", plain: true, http3: true, wantProto: []string{protoPlain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if !tt.tls {
				cfg.TLSAddr = ""
			}
			if !tt.plain {
				cfg.PlainAddr = ""
			}
			cfg.HTTP3 = tt.http3
			s, _ := startServer(t, cfg, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			if (s.TLSAddr() != nil) != tt.tls || (s.PlainAddr() != nil) != tt.plain {
				t.Fatalf("TLSAddr=%v PlainAddr=%v", s.TLSAddr(), s.PlainAddr())
			}
			if tt.tls != (s.CertFile() != "") {
				t.Errorf("CertFile = %q", s.CertFile())
			}
			for _, proto := range tt.wantProto {
				c, base := client(t, s, proto)
				resp, err := c.Get(base + "/")
				if err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Alt-Svc"); got != "" {
					t.Errorf("%s: Alt-Svc %q without HTTP/3", proto, got)
				}
			}
		})
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s, err := New(testConfig(t), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "ok")
		}))
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve() }()
		// Clients live in a sub-test so their cleanups (closing transports)
		// run before the count.
		t.Run("traffic", func(t *testing.T) {
			for _, proto := range []string{protoH1, protoH2, protoH3, protoPlain, protoH2C} {
				c, base := client(t, s, proto)
				resp, err := c.Get(base + "/")
				if err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		<-served
	}()
	if !waitFor(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), b.String())
	}
}

// TestImportRules enforces DESIGN.md §1: this package depends on nothing
// else of ours, so the listeners cannot grow knowledge of the API above.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	self, err := exec.Command(goBin, "list", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	selfPath := strings.TrimSpace(string(self))
	module := strings.TrimSuffix(selfPath, "/edge/internal/server")
	for _, dep := range strings.Fields(string(out)) {
		if dep != selfPath && strings.HasPrefix(dep, module+"/") {
			t.Errorf("imports %s; the server package must not import other packages of this module", dep)
		}
	}
}

func TestServeFailsWhenAListenerDies(t *testing.T) {
	s, served := startServer(t, testConfig(t), http.NotFoundHandler())
	c, base := client(t, s, protoPlain)
	if !waitFor(2*time.Second, func() bool {
		resp, err := c.Get(base + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		t.Fatal("plain listener never served")
	}
	// Pull the socket out from under net/http, as a failing accept would.
	_ = s.plainLn.Close()
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "server: serve plain") {
			t.Errorf("Serve = %v, want the plain listener's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running with a dead listener")
	}
	if _, err := net.DialTimeout("tcp", s.TLSAddr().String(), time.Second); err == nil {
		t.Error("TLS listener still accepts after another listener failed")
	}
}
