// Command fakeupstream serves the fake OpenAI upstream of package
// fakeupstream on a TCP port, for load benchmarks and manual testing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr       = flag.String("addr", "127.0.0.1:9001", "listen address")
		ttft       = flag.Duration("ttft", 0, "delay before headers (non-stream) or the first chunk (stream)")
		tps        = flag.Float64("tps", 0, "stream chunks per second after the first; 0 = unpaced")
		chunks     = flag.Int("chunks", 20, "content chunks per stream")
		size       = flag.Int("size", 600, "approximate assistant content bytes")
		fail       = flag.String("fail", "", "failure mode: 429, 500, 503, hang, cut, malformed-json, malformed-sse, stream-error")
		failRate   = flag.Float64("fail-rate", 0, "fraction of requests that get -fail (0 = all)")
		retryAfter = flag.String("retry-after", "1", "Retry-After value for 429/503")
		h2c        = flag.Bool("h2c", false, "also serve HTTP/2 without TLS (prior knowledge)")
		record     = flag.Bool("record", false, "keep the last requests in memory (no effect on the wire)")
	)
	flag.Parse()
	if !fakeupstream.FailMode(*fail).Valid() {
		return fmt.Errorf("fakeupstream: flag -fail: unknown mode %q", *fail)
	}

	fake := fakeupstream.New(fakeupstream.Config{
		TTFT:            *ttft,
		TokensPerSecond: *tps,
		Chunks:          *chunks,
		ContentBytes:    *size,
		Fail:            fakeupstream.FailMode(*fail),
		FailRate:        *failRate,
		RetryAfter:      *retryAfter,
		Record:          *record,
	})
	srv := &http.Server{
		Handler:           fake,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: paced streams legitimately run for minutes.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		// A benchmark upstream behind a multiplexing gateway must not cap
		// the gateway at Go's default 250 streams per connection.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 10000},
	}
	if *h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("fakeupstream: listen: %w", err)
	}
	fmt.Printf("fakeupstream listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("fakeupstream: serve: %w", err)
	case <-ctx.Done():
	}
	fake.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fakeupstream: shutdown: %w", err)
	}
	return nil
}
