package server

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Protocol names used by the table tests.
const (
	protoH1    = "h1"    // HTTP/1.1 over TLS
	protoH2    = "h2"    // HTTP/2 over TLS
	protoH3    = "h3"    // HTTP/3 over QUIC
	protoPlain = "plain" // HTTP/1.1 cleartext
	protoH2C   = "h2c"   // HTTP/2 cleartext, prior knowledge
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig listens on loopback with every protocol on.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		TLSAddr:   "127.0.0.1:0",
		PlainAddr: "127.0.0.1:0",
		HTTP3:     true,
		DataDir:   t.TempDir(),
		Logger:    discardLogger(),
	}
}

// startServer runs Serve in the background and closes the server when the
// test ends. The returned channel yields Serve's result.
func startServer(t *testing.T, cfg Config, h http.Handler) (*Server, <-chan error) {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	served := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		served <- s.Serve()
		close(finished)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s, served
}

func certPool(t *testing.T, files ...string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read cert: %v", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("no certificate in %s", f)
		}
	}
	return pool
}

// client returns an HTTP client speaking exactly proto to s, and the base URL.
func client(t *testing.T, s *Server, proto string) (*http.Client, string) {
	t.Helper()
	var rt http.RoundTripper
	var base string
	switch proto {
	case protoH3:
		tr := &http3.Transport{
			TLSClientConfig: &tls.Config{RootCAs: certPool(t, s.CertFile())},
			QUICConfig:      &quic.Config{HandshakeIdleTimeout: 2 * time.Second},
		}
		t.Cleanup(func() { _ = tr.Close() })
		rt = tr
		base = "https://" + s.TLSAddr().String()
	default:
		var p http.Protocols
		tr := &http.Transport{}
		switch proto {
		case protoH1:
			p.SetHTTP1(true)
		case protoH2:
			p.SetHTTP2(true)
		case protoPlain:
			p.SetHTTP1(true)
		case protoH2C:
			p.SetUnencryptedHTTP2(true)
		default:
			t.Fatalf("unknown protocol %q", proto)
		}
		tr.Protocols = &p
		if proto == protoH1 || proto == protoH2 {
			tr.TLSClientConfig = &tls.Config{RootCAs: certPool(t, s.CertFile())}
			base = "https://" + s.TLSAddr().String()
		} else {
			base = "http://" + s.PlainAddr().String()
		}
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	}
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}, base
}

func wantProtoMajor(proto string) int {
	switch proto {
	case protoH3:
		return 3
	case protoH2, protoH2C:
		return 2
	default:
		return 1
	}
}

func tlsPort(t *testing.T, s *Server) string {
	t.Helper()
	return strconv.Itoa(s.TLSAddr().(*net.TCPAddr).Port)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flush goes through ResponseController so a writer that cannot flush
// reports it instead of silently buffering.
func flush(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }
