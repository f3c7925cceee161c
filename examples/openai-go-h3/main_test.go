package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge"
)

// Test_main runs the example against a real node on its own ports.
func Test_main(t *testing.T) {
	cfg, err := edge.ParseConfig([]byte("listen: {tls: \"127.0.0.1:0\", plain: \"off\"}\nsim: {ttft: 1ms, tokens_per_second: 5000}\n"),
		func(k string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	node, err := edge.New(cfg, edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var out strings.Builder
	var runErr error
	for i := 0; i < 50; i++ { // the listeners come up with Run
		out.Reset()
		if runErr = run(context.Background(), &out, node.TLSAddr().String(), node.CertFile(), "sim/chat", "hello"); runErr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if !strings.Contains(out.String(), "[HTTP/3.0, gen-") || !strings.Contains(out.String(), "completion tokens]") {
		t.Fatalf("output:\n%s", out.String())
	}
}
