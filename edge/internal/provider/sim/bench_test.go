package sim

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

const benchBody = `{"model":"fast","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a short note about edge routers."}],"max_tokens":32,"temperature":0}`

// benchRoundTrip measures the transport itself: RoundTrip plus reading the
// body, without http.Client's redirect and deadline bookkeeping.
func benchRoundTrip(b *testing.B, body string) {
	tr := New(Config{})
	raw := []byte(body)
	rd := bytes.NewReader(raw)
	req, err := http.NewRequest(http.MethodPost, "http://sim/v1/chat/completions", io.NopCloser(rd))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = int64(len(raw))
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		rd.Reset(raw)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := resp.Body.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		resp.Body.Close()
	}
}

func BenchmarkFastNonStream(b *testing.B) { benchRoundTrip(b, benchBody) }

func BenchmarkFastStream(b *testing.B) {
	benchRoundTrip(b, benchBody[:len(benchBody)-1]+`,"stream":true,"stream_options":{"include_usage":true}}`)
}

// BenchmarkFastNonStreamClient is what a caller pays through http.Client.
func BenchmarkFastNonStreamClient(b *testing.B) {
	c := &http.Client{Transport: New(Config{})}
	raw := []byte(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Post("http://sim/v1/chat/completions", "application/json", bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
