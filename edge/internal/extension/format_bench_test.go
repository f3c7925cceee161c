package extension

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/openai"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// canned answers every request with the same status, content type and body, in memory:
// the benchmarks measure the adapters, not a network.
type canned struct {
	ctype string
	body  []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {c.ctype}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

// benchChat is a ~1 KB chat request, as agents send them: a system prompt and a few turns.
var benchChat = []byte(`{"model":"anthropic/claude-sonnet-4.5","max_tokens":512,"temperature":0.2,"messages":[` +
	`{"role":"system","content":"You are a careful assistant. Answer briefly, cite sources when you can, and say when you do not know."},` +
	`{"role":"user","content":"` + strings.Repeat("What is the capital of France and why? ", 12) + `"},` +
	`{"role":"assistant","content":"Paris has been the capital of France for most of its history."},` +
	`{"role":"user","content":"And how large is it, in area and population?"}]}`)

const anthropicResponse = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",` +
	`"content":[{"type":"text","text":"Paris covers about 105 square kilometres within its city limits and has about 2.1 million inhabitants; the metropolitan area is home to roughly 13 million people."}],` +
	`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":312,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":41}}`

const openaiResponse = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Paris covers about 105 square kilometres within its city limits and has about 2.1 million inhabitants; the metropolitan area is home to roughly 13 million people.","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":312,"completion_tokens":41,"total_tokens":353},"system_fingerprint":"fp_fc9f1d7035"}`

func anthropicStream(events int) []byte {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":312,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := range events {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"word%d \"}}\n\n", i)
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":41}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(b.String())
}

func openaiStream(events int) []byte {
	var b strings.Builder
	for i := range events {
		fmt.Fprintf(&b, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	b.WriteString("data: [DONE]\n\n")
	return []byte(b.String())
}

func anthropicFormat(tb testing.TB, rt http.RoundTripper) *Format {
	tb.Helper()
	wasm, err := os.ReadFile("../../../plugins/dist/format-anthropic.wasm")
	if err != nil {
		tb.Fatalf("%v (run scripts/build-plugins.sh)", err)
	}
	h, err := wasmhost.NewHost(context.Background(), wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	wp, err := h.Load(context.Background(), "anthropic", wasm, nil, wasmhost.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := NewFormat(FormatConfig{Name: "anthropic", BaseURL: "http://anthropic.invalid/v1", APIKey: "k"}, &Plugin{Plugin: wp, name: "anthropic"}, rt, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func openaiProvider(tb testing.TB, rt http.RoundTripper) provider.Provider {
	p, err := openai.New(openai.Config{Name: "openai", BaseURL: "http://openai.invalid/v1", APIKey: "k"}, rt)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func benchProvider(b *testing.B, p provider.Provider, stream bool, events int) {
	req := &llm.Request{Body: benchChat, Model: "anthropic/claude-sonnet-4.5", Stream: stream}
	t := provider.Target{Model: "claude-sonnet-4-5-20250929"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := p.Chat(context.Background(), req, t)
		if err != nil {
			b.Fatal(err)
		}
		if stream {
			n := 0
			for {
				c, err := resp.Stream.Next()
				if err != nil {
					b.Fatalf("after %d chunks: %v", n, err)
				}
				if string(c) == "[DONE]" {
					break
				}
				n++
			}
			if n < events {
				b.Fatalf("%d chunks, want at least %d", n, events)
			}
		}
		resp.Close()
	}
	if stream {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
	}
}

// BenchmarkFormatChat compares one chat call through the Anthropic format plugin with the
// same call through the native OpenAI adapter, both against an in-memory upstream: the
// difference is what the plugin adds to a request (hook_format_request and
// hook_format_response, non-streamed) or to each stream event (hook_format_stream, one
// call per upstream read; the canned body arrives in one read, as a busy stream does).
func BenchmarkFormatChat(b *testing.B) {
	const events = 100
	b.Run("anthropic-plugin/non-stream", func(b *testing.B) {
		benchProvider(b, anthropicFormat(b, canned{"application/json", []byte(anthropicResponse)}), false, 0)
	})
	b.Run("openai-native/non-stream", func(b *testing.B) {
		benchProvider(b, openaiProvider(b, canned{"application/json", []byte(openaiResponse)}), false, 0)
	})
	b.Run("anthropic-plugin/stream", func(b *testing.B) {
		benchProvider(b, anthropicFormat(b, canned{"text/event-stream", anthropicStream(events)}), true, events)
	})
	b.Run("openai-native/stream", func(b *testing.B) {
		benchProvider(b, openaiProvider(b, canned{"text/event-stream", openaiStream(events)}), true, events)
	})
}
