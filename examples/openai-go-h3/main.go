// Command openai-go-h3 streams a chat completion from a Crossroads node over HTTP/3 with
// the official openai-go SDK: the SDK takes any http.Client, and quic-go's http3.Transport
// makes that client speak HTTP/3.
//
//	go run ./examples/openai-go-h3 [-addr 127.0.0.1:8443] [-ca ~/.local/share/crossroads/tls/cert.pem] [-model sim/chat]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	home, _ := os.UserHomeDir()
	addr := flag.String("addr", "127.0.0.1:8443", "the node's TLS address (UDP for HTTP/3)")
	ca := flag.String("ca", filepath.Join(home, ".local/share/crossroads/tls/cert.pem"), "PEM certificate to trust (the node's self-signed one)")
	model := flag.String("model", "sim/chat", "model to ask")
	prompt := flag.String("prompt", "Say hello over HTTP/3.", "the user message")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *addr, *ca, *model, *prompt); err != nil {
		fmt.Fprintln(os.Stderr, "openai-go-h3:", err)
		os.Exit(1)
	}
}

// run streams one completion and prints its text, then the protocol and token usage.
func run(ctx context.Context, out io.Writer, addr, caFile, model, prompt string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.Close()
	var proto string
	client := openai.NewClient(
		option.WithBaseURL("https://"+addr+"/v1/"),
		option.WithAPIKey("unused-by-the-default-node"),
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			resp, err := next(r)
			if resp != nil {
				proto = resp.Proto
			}
			return resp, err
		}),
	)
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         openai.ChatModel(model),
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 {
			fmt.Fprint(out, chunk.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	fmt.Fprintf(out, "\n\n[%s, %s, %d prompt + %d completion tokens]\n", proto, acc.ID, acc.Usage.PromptTokens, acc.Usage.CompletionTokens)
	return nil
}
