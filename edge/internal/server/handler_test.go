package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestEdgeHandler(t *testing.T) {
	altSvc := altSvcValue(8443)
	tests := []struct {
		name       string
		method     string
		tls        *tls.ConnectionState
		protoMajor int
		altSvc     []string
		wantStatus int
		wantNext   bool
		wantAltSvc string
	}{
		{name: "early POST is refused", method: http.MethodPost, tls: &tls.ConnectionState{HandshakeComplete: false}, protoMajor: 3,
			wantStatus: http.StatusTooEarly},
		{name: "early PUT is refused", method: http.MethodPut, tls: &tls.ConnectionState{HandshakeComplete: false}, protoMajor: 3,
			wantStatus: http.StatusTooEarly},
		{name: "early GET passes", method: http.MethodGet, tls: &tls.ConnectionState{HandshakeComplete: false}, protoMajor: 3,
			wantStatus: http.StatusOK, wantNext: true},
		{name: "early HEAD passes", method: http.MethodHead, tls: &tls.ConnectionState{HandshakeComplete: false}, protoMajor: 3,
			wantStatus: http.StatusOK, wantNext: true},
		{name: "POST after handshake passes", method: http.MethodPost, tls: &tls.ConnectionState{HandshakeComplete: true}, protoMajor: 3,
			wantStatus: http.StatusOK, wantNext: true},
		{name: "cleartext POST passes", method: http.MethodPost, tls: nil, protoMajor: 1,
			wantStatus: http.StatusOK, wantNext: true},
		{name: "HTTP/2 gets Alt-Svc", method: http.MethodPost, tls: &tls.ConnectionState{HandshakeComplete: true}, protoMajor: 2, altSvc: altSvc,
			wantStatus: http.StatusOK, wantNext: true, wantAltSvc: altSvc[0]},
		{name: "HTTP/1.1 gets Alt-Svc", method: http.MethodGet, tls: &tls.ConnectionState{HandshakeComplete: true}, protoMajor: 1, altSvc: altSvc,
			wantStatus: http.StatusOK, wantNext: true, wantAltSvc: altSvc[0]},
		{name: "HTTP/3 never gets Alt-Svc", method: http.MethodGet, tls: &tls.ConnectionState{HandshakeComplete: true}, protoMajor: 3, altSvc: altSvc,
			wantStatus: http.StatusOK, wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var active atomic.Int64
			called := false
			h := &edgeHandler{
				next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					called = true
					if n := active.Load(); n != 1 {
						t.Errorf("active = %d inside the handler, want 1", n)
					}
				}),
				altSvc: tt.altSvc,
				active: &active,
			}
			r := httptest.NewRequest(tt.method, "https://example.com/v1/chat/completions", nil)
			r.TLS = tt.tls
			r.ProtoMajor = tt.protoMajor
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if called != tt.wantNext {
				t.Errorf("next called = %v, want %v", called, tt.wantNext)
			}
			if got := w.Header().Get("Alt-Svc"); got != tt.wantAltSvc {
				t.Errorf("Alt-Svc = %q, want %q", got, tt.wantAltSvc)
			}
			if n := active.Load(); n != 0 {
				t.Errorf("active = %d after the handler, want 0", n)
			}
		})
	}
}

// TestEdgeHandlerSharedAltSvcIsNotMutated guards the shared slice: a handler
// adding its own Alt-Svc must not write into the array other responses use.
func TestEdgeHandlerSharedAltSvcIsNotMutated(t *testing.T) {
	altSvc := altSvcValue(443)
	var active atomic.Int64
	h := &edgeHandler{
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Alt-Svc", `h2="alt.example:443"`)
		}),
		altSvc: altSvc,
		active: &active,
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Values("Alt-Svc"); len(got) != 2 {
			t.Fatalf("Alt-Svc = %q", got)
		}
	}
	if len(altSvc) != 1 || cap(altSvc) != 1 || altSvc[0] != `h3=":443"; ma=2592000` {
		t.Errorf("shared Alt-Svc value changed: %q (cap %d)", altSvc, cap(altSvc))
	}
}

func TestQUICConfig(t *testing.T) {
	tests := []struct {
		name         string
		cfg          func(*Config)
		want0RTT     bool
		wantStreams  int64
		wantIdle     time.Duration
		wantH3Idle   time.Duration
		wantMaxBytes int
	}{
		{
			name:         "defaults refuse 0-RTT",
			cfg:          func(*Config) {},
			want0RTT:     false,
			wantStreams:  DefaultMaxConcurrentStreams,
			wantIdle:     DefaultQUICIdleTimeout,
			wantH3Idle:   DefaultIdleTimeout,
			wantMaxBytes: DefaultMaxHeaderBytes,
		},
		{
			name: "explicit values",
			cfg: func(c *Config) {
				c.Allow0RTT = true
				c.MaxConcurrentStreams = 250
				c.QUICIdleTimeout = time.Minute
				c.IdleTimeout = 30 * time.Second
				c.MaxHeaderBytes = 1 << 20
			},
			want0RTT:     true,
			wantStreams:  250,
			wantIdle:     time.Minute,
			wantH3Idle:   30 * time.Second,
			wantMaxBytes: 1 << 20,
		},
		{
			name:         "negative idle timeout disables the HTTP/3 idle timer",
			cfg:          func(c *Config) { c.IdleTimeout = -1 },
			wantStreams:  DefaultMaxConcurrentStreams,
			wantIdle:     DefaultQUICIdleTimeout,
			wantH3Idle:   0,
			wantMaxBytes: DefaultMaxHeaderBytes,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.cfg(&cfg)
			s, err := New(cfg, http.NotFoundHandler())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			q := s.quicConf
			if q == nil {
				t.Fatal("no quic.Config")
			}
			if q.Allow0RTT != tt.want0RTT {
				t.Errorf("Allow0RTT = %v, want %v", q.Allow0RTT, tt.want0RTT)
			}
			if q.MaxIncomingStreams != tt.wantStreams {
				t.Errorf("MaxIncomingStreams = %d, want %d", q.MaxIncomingStreams, tt.wantStreams)
			}
			if q.MaxIdleTimeout != tt.wantIdle {
				t.Errorf("MaxIdleTimeout = %v, want %v", q.MaxIdleTimeout, tt.wantIdle)
			}
			if s.h3Srv.IdleTimeout != tt.wantH3Idle {
				t.Errorf("http3 IdleTimeout = %v, want %v", s.h3Srv.IdleTimeout, tt.wantH3Idle)
			}
			if s.h3Srv.MaxHeaderBytes != tt.wantMaxBytes || s.tlsSrv.MaxHeaderBytes != tt.wantMaxBytes {
				t.Errorf("MaxHeaderBytes h3=%d tls=%d, want %d", s.h3Srv.MaxHeaderBytes, s.tlsSrv.MaxHeaderBytes, tt.wantMaxBytes)
			}
			if got := s.tlsSrv.HTTP2.MaxConcurrentStreams; int64(got) != tt.wantStreams {
				t.Errorf("h2 MaxConcurrentStreams = %d, want %d", got, tt.wantStreams)
			}
			if s.tlsSrv.WriteTimeout != 0 {
				t.Errorf("WriteTimeout = %v; long streams need none", s.tlsSrv.WriteTimeout)
			}
		})
	}
}

// nopWriter is a ResponseWriter whose header map is reused, so the benchmark
// measures the wrapper and not the map.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func newBenchWrapper() (*edgeHandler, *http.Request, *nopWriter) {
	h := &edgeHandler{
		next:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		altSvc: altSvcValue(8443),
		active: new(atomic.Int64),
	}
	r := httptest.NewRequest(http.MethodPost, "https://example.com/v1/chat/completions", nil)
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	r.ProtoMajor = 2
	return h, r, &nopWriter{h: http.Header{}}
}

func TestEdgeHandlerDoesNotAllocate(t *testing.T) {
	h, r, w := newBenchWrapper()
	allocs := testing.AllocsPerRun(1000, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	})
	if allocs != 0 {
		t.Errorf("wrapper allocates %.1f times per request, want 0", allocs)
	}
}

func BenchmarkHandlerWrapper(b *testing.B) {
	h, r, w := newBenchWrapper()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
