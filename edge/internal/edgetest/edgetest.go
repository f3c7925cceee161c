// Package edgetest owns helpers for the node's end-to-end tests: HTTP clients for every
// protocol the node serves (HTTP/1.1 and HTTP/2 over TLS, HTTP/3 over QUIC, plain HTTP/1.1
// and h2c), an event-stream reader, and a goroutine leak check. Only tests import it.
package edgetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Protocols lists the protocols Clients returns, in a stable order.
var Protocols = []string{"h1", "h2", "h3"}

// TLSConfig trusts the PEM certificate at certFile, as a client of a self-signed node must.
func TLSConfig(t testing.TB, certFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("edgetest: read cert: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("edgetest: no certificate in %s", certFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// Client returns an HTTP client speaking proto ("h1", "h2" or "h3") to a TLS node whose
// certificate is certFile. The transport is closed when the test ends.
func Client(t testing.TB, proto, certFile string) *http.Client {
	t.Helper()
	tc := TLSConfig(t, certFile)
	var rt http.RoundTripper
	switch proto {
	case "h1":
		tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false}
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	case "h2":
		tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	case "h3":
		tr := &http3.Transport{TLSClientConfig: tc, QUICConfig: &quic.Config{KeepAlivePeriod: 10 * time.Second}}
		t.Cleanup(func() { _ = tr.Close() })
		rt = tr
	case "h1c":
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	case "h2c":
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	default:
		t.Fatalf("edgetest: unknown protocol %q", proto)
	}
	return &http.Client{Transport: rt, Timeout: 60 * time.Second}
}

// WantProto is the resp.Proto a client of proto sees.
func WantProto(proto string) string {
	switch proto {
	case "h2", "h2c":
		return "HTTP/2.0"
	case "h3":
		return "HTTP/3.0"
	}
	return "HTTP/1.1"
}

// Event is one server-sent event as a client sees it.
type Event struct {
	// Comment is set for comment lines (": keep-alive").
	Comment string
	// Data is the event's data.
	Data string
}

// ReadEvents reads an event stream to its end. It is deliberately simple and strict: LF
// framing only, as the node writes it, so a framing bug in the node shows here.
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				out = append(out, Event{Data: strings.Join(data, "\n")})
				data = nil
			}
		case strings.HasPrefix(line, ":"):
			out = append(out, Event{Comment: strings.TrimSpace(line[1:])})
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		default:
			return out, fmt.Errorf("edgetest: unexpected SSE line %q", line)
		}
	}
	if data != nil {
		return out, fmt.Errorf("edgetest: stream ended inside an event")
	}
	return out, sc.Err()
}

// FreeAddr returns a loopback address whose port was free a moment ago, for an upstream
// that must refuse connections.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// CheckGoroutines fails the test if, once it ends, more goroutines run than before it
// started (after a grace period for connections to wind down).
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		var now int
		for time.Now().Before(deadline) {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("edgetest: goroutines leaked: %d before, %d after\n%s", before, now, buf[:n])
	})
}

// WaitContext returns a context cancelled after d or when the test ends.
func WaitContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
