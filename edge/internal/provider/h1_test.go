package provider

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is an httptest server that counts the TCP connections it accepts.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func post(t *testing.T, tr *Transport, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return tr.RoundTrip(req)
}

func TestH1Framing(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
		reuse   bool
	}{
		{"content-length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, "hello", true},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "bc")
		}, "abc", true},
		{"no body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, "", true},
		{"connection close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}, "bye", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody string
			srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				tt.handler(w, r)
			})
			tr := NewTransport()
			defer tr.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				resp, err := post(t, tr, srv.URL+"/v1/chat/completions", `{"n":1}`)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != tt.want || gotBody != `{"n":1}` {
					t.Fatalf("body %q err %v, upstream saw %q", b, err, gotBody)
				}
			}
			if want := map[bool]int64{true: 1, false: 3}[tt.reuse]; conns.Load() != want {
				t.Fatalf("%d connections for 3 requests, want %d", conns.Load(), want)
			}
		})
	}
}

// TestH1StreamCloseKeepsConnection: a caller that stops at the last event and closes the
// body still leaves the connection reusable.
func TestH1StreamCloseKeepsConnection(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "data: [DONE]\n\n")
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		resp, err := post(t, tr, srv.URL, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(line, "[DONE]") {
				break
			}
		}
		resp.Body.Close()
	}
	if conns.Load() != 1 {
		t.Fatalf("%d connections for 3 streams, want 1", conns.Load())
	}
}

// TestH1StaleConnection: an idle connection the upstream closed is detected and replaced,
// and the request is not lost.
func TestH1StaleConnection(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	resp, err := post(t, tr, srv.URL, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.CloseClientConnections() // the upstream drops its idle keep-alive connection
	time.Sleep(50 * time.Millisecond)
	resp, err = post(t, tr, srv.URL, `{}`)
	if err != nil {
		t.Fatalf("request after the upstream closed the idle connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || conns.Load() != 2 {
		t.Fatalf("body %q, %d connections", b, conns.Load())
	}
}

// TestH1RetryOnDeadReusedConnection: a reused connection that dies before any response byte
// (the race the liveness check cannot close) is retried once on a fresh connection.
func TestH1RetryOnDeadReusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var requests atomic.Int64
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, first bool) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if first && requests.Load() == 2 {
						return // read the second request, then drop the connection without a byte
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}(c, n == 0)
		}
	}()
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	for i := 0; i < 2; i++ {
		resp, err := post(t, tr, "http://"+ln.Addr().String(), `{}`)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d body %q", i, b)
		}
	}
	if requests.Load() != 3 {
		t.Fatalf("upstream saw %d requests, want 3 (one retried)", requests.Load())
	}
}

func TestH1CancelUnblocksRead(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("{}"))
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %s", d)
	}
}

func TestH1DialError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	tr := NewTransport()
	if _, err := post(t, tr, "http://"+addr, "{}"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
}
