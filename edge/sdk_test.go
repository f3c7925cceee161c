package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge/internal/edgetest"
)

// sdk returns an openai-go client that reaches the node over proto.
func (e *env) sdk(proto string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(e.url(proto, "/v1/")),
		option.WithAPIKey("sk-anything"),
		option.WithHTTPClient(e.client(proto)),
		option.WithMaxRetries(0),
	)
}

// TestOpenAISDK drives the node with the official openai-go SDK, over HTTP/1.1, HTTP/2 and
// HTTP/3: non-streamed and streamed completions (accumulated by the SDK), tool calls from
// the simulated provider, and error statuses as the SDK surfaces them.
func TestOpenAISDK(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 12})
	ctx := context.Background()
	for _, proto := range edgetest.Protocols {
		t.Run(proto, func(t *testing.T) {
			client := e.sdk(proto)

			t.Run("non-stream", func(t *testing.T) {
				c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
					Model:    "fake/gpt-4o-mini",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
				})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(c.ID, "gen-") || c.Model != "fake/gpt-4o-mini" || c.Choices[0].Message.Content == "" || c.Usage.TotalTokens == 0 {
					t.Fatalf("completion = %+v", c)
				}
				var extra struct {
					Provider string `json:"provider"`
				}
				_ = json.Unmarshal([]byte(c.RawJSON()), &extra)
				if extra.Provider != "Fake" {
					t.Fatalf("provider = %q", extra.Provider)
				}
			})

			t.Run("stream", func(t *testing.T) {
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
					Model:         "fake/gpt-4o-mini",
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				var acc openai.ChatCompletionAccumulator
				n := 0
				for stream.Next() {
					if !acc.AddChunk(stream.Current()) {
						t.Fatalf("accumulator rejected chunk %d: %s", n, stream.Current().RawJSON())
					}
					n++
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if n < 12 || acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != 12 {
					t.Fatalf("accumulated %d chunks: %+v", n, acc.ChatCompletion)
				}
			})

			t.Run("sim tool call", func(t *testing.T) {
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
					Model:    "sim/tools",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
					Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
						Name: "get_weather",
						Parameters: shared.FunctionParameters{
							"type":       "object",
							"properties": map[string]any{"city": map[string]any{"type": "string"}},
							"required":   []string{"city"},
						},
					})},
				})
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				calls := acc.Choices[0].Message.ToolCalls
				if len(calls) != 1 || calls[0].Function.Name != "get_weather" || acc.Choices[0].FinishReason != "tool_calls" {
					t.Fatalf("tool calls = %+v finish %q", calls, acc.Choices[0].FinishReason)
				}
				var args map[string]any
				if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] == nil {
					t.Fatalf("arguments %q: %v", calls[0].Function.Arguments, err)
				}
			})

			t.Run("errors", func(t *testing.T) {
				for _, tc := range []struct {
					model  string
					user   string
					status int
				}{
					{"nobody/nothing", "", 404},
					{"fake/gpt-4o-mini", "fake:fail=429", 429},
					{"fake/gpt-4o-mini", "fake:fail=500", 502},
				} {
					_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
						Model:    shared.ChatModel(tc.model),
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
						User:     openai.String(tc.user),
					})
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Message == "" {
						t.Fatalf("%s/%s: err = %v, want an API error with status %d and a message", tc.model, tc.user, err, tc.status)
					}
				}
			})

			t.Run("mid-stream failure is an error", func(t *testing.T) {
				stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
					Model:    "fake/gpt-4o-mini",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
					User:     openai.String("fake:fail=cut"),
				})
				for stream.Next() {
				}
				if stream.Err() == nil {
					t.Fatal("a cut stream looked like success to the SDK")
				}
			})
		})
	}
}
