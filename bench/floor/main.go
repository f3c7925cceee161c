// Command floor is the performance floor the benchmarks compare Crossroads
// against: a bare httputil.ReverseProxy in front of the same upstream, i.e.
// what a naive Go proxy costs. Keep it naive; optimising it would move the
// yardstick.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9001", "upstream base URL")
	flag.Parse()

	u, err := url.Parse(*upstream)
	if err != nil {
		return fmt.Errorf("floor: parse -upstream: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // SSE must not sit in a buffer
	// Zero-value Transport apart from the idle pool, as in the peer benchmark
	// (reference/peer-bench.md): without it every burst above 2 idle
	// connections would redial.
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 1024}

	srv := &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("floor: listen: %w", err)
	}
	fmt.Printf("floor listening on %s -> %s\n", ln.Addr(), u)
	if err := srv.Serve(ln); err != nil {
		return fmt.Errorf("floor: serve: %w", err)
	}
	return nil
}
