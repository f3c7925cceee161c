package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/sdk/plugintest"
)

// benchBody is a chat request of about size bytes: prose in several messages, with one
// e-mail address and one API key in the last message when dirty.
func benchBody(size int, dirty bool) []byte {
	const prose = "Please summarise the quarterly report, keeping the figures for revenue, churn and hiring; " +
		"note any risks the board flagged at 10:30 and what the team plans next. "
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var msgs []msg
	n := 0
	for i := 0; n < size-300; i++ {
		c := strings.Repeat(prose, 2)
		if i == 0 {
			c = "You are a careful assistant."
		}
		msgs = append(msgs, msg{[]string{"system", "user", "assistant"}[min(i, 1+i%2)], c})
		n += len(c) + 30
	}
	if dirty {
		msgs[len(msgs)-1].Content += " Mail jane.doe@example.com with key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12."
	}
	b, _ := json.Marshal(map[string]any{"model": "gpt-4o", "stream": true, "messages": msgs})
	return b
}

// BenchmarkRedact runs hook_request on ~1 KB and ~8 KB requests, clean (the hook answers
// 0) and dirty (it rewrites), natively and through edge/wasmhost (metered, default limits).
func BenchmarkRedact(b *testing.B) {
	b.Run("floor/wasm", func(b *testing.B) {
		// The fixed cost of a call into the Go plugin: a body with no messages.
		p, err := plugintest.LoadBytes(b, "redact", plugintest.Build(b, "."), nil, wasmhost.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		wp, ctx, body := plugintest.Wasmhost(p), context.Background(), []byte(`{"messages":[]}`)
		for b.Loop() {
			if _, _, err := wp.Call(ctx, "hook_request", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, size := range []int{1 << 10, 8 << 10} {
		for _, dirty := range []bool{false, true} {
			body := benchBody(size, dirty)
			name := fmt.Sprintf("%dKB/clean", size>>10)
			if dirty {
				name = fmt.Sprintf("%dKB/dirty", size>>10)
			}
			b.Run(name+"/native", func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					out, err := redactBody(body, active)
					if err != nil || (out != nil) != dirty {
						b.Fatalf("out %q, err %v", out, err)
					}
				}
			})
			b.Run(name+"/wasm", func(b *testing.B) {
				p, err := plugintest.LoadBytes(b, "redact", plugintest.Build(b, "."), nil, wasmhost.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				wp := plugintest.Wasmhost(p)
				ctx := context.Background()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					_, changed, err := wp.Call(ctx, "hook_request", body)
					if err != nil || changed != dirty {
						b.Fatalf("changed %v, err %v", changed, err)
					}
				}
			})
		}
	}
}
