package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// vocabulary makes prose that compresses like prose: a few hundred distinct words in a
// random order, not one sentence repeated.
var vocabulary = strings.Fields(`the a of to and in is it that for on with as was by at be this from or an are
not have has but they which one you all were we when there can more if no out so said what up its about into than
them only other new some could time these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should because each just those
people how too little state good very make world still own see men work long get here between both life being under
never day same another know while last might us great old year off come since against go came right used take three
light river stone summit valley harbor window signal glacier copper amber cedar ember falcon island jasmine kettle
lantern meadow nectar ocean paper prairie quartz silver timber umber velvet willow yonder zephyr compass orbit quiet
weather city north south east west morning evening rain snow wind cloud sun moon star field forest mountain road`)

// prose returns about n bytes of words drawn from the vocabulary.
func prose(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[r.IntN(len(vocabulary))])
	}
	return b.String()
}

// answer2K is a non-streamed chat.completion of about 2 KB, and the same answer as a stream
// of 20 content chunks plus finish and usage.
func answer2K(seed uint64) (body string, chunks []string) {
	r := rand.New(rand.NewPCG(seed, 1))
	text := prose(r, 1650)
	body = `{"id":"gen-1","object":"chat.completion","created":1763800000,"model":"openai/gpt-4o-mini","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"` + text + `","refusal":null},"finish_reason":"stop","logprobs":null}],` +
		`"usage":{"prompt_tokens":412,"completion_tokens":380,"total_tokens":792}}`
	head := `{"id":"gen-1","object":"chat.completion.chunk","created":1763800000,"model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":`
	words := strings.Fields(text)
	per := (len(words) + 19) / 20
	for i := 0; i < len(words); i += per {
		piece := strings.Join(words[i:min(i+per, len(words))], " ") + " "
		chunks = append(chunks, head+`{"content":"`+piece+`"},"finish_reason":null}]}`)
	}
	chunks = append(chunks, head+`{},"finish_reason":"stop"}]}`,
		`{"id":"gen-1","object":"chat.completion.chunk","created":1763800000,"model":"openai/gpt-4o-mini","choices":[],"usage":{"prompt_tokens":412,"completion_tokens":380,"total_tokens":792}}`)
	return body, chunks
}

// benchRequest is a typical chat request: a system prompt, a question, a few parameters.
const benchRequest = `{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant for a travel site. Answer in plain prose, no lists, at most two paragraphs."},` +
	`{"role":"user","content":"What is the weather usually like in Paris in early spring, and what should I pack for a week of walking around the city?"}],` +
	`"temperature":0,"max_tokens":512,"top_p":1}`

// BenchmarkStageHit is a hit served in-process: policy, key, L1 lookup, decode, and the
// response read to the end, for a 2 KB answer stored compressed or plain, asked for in the
// form it was stored in. It reports the median and 99th percentile of single hits.
func BenchmarkStageHit(b *testing.B) {
	body, chunks := answer2K(1)
	for _, tc := range []struct {
		name   string
		stream bool
		above  int
	}{
		{"body/compressed", false, 1}, {"body/plain", false, 1 << 30},
		{"stream/compressed", true, 1}, {"stream/plain", true, 1 << 30},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := NewMemory(MemoryConfig{CompressAbove: tc.above})
			if err != nil {
				b.Fatal(err)
			}
			c := New(Config{L1: m})
			u := &upstream{answer: bodied(body)}
			if tc.stream {
				u.answer = streamed(chunks, nil)
			}
			h := c.Stage(StageConfig{Resolve: func(id string) (string, bool) { return id, true }})(u)
			req := request(benchRequest, tc.stream)
			req.Model = "openai/gpt-4o-mini"
			ctx := context.Background()
			read := func() int {
				resp, err := h.Serve(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				n := len(resp.Body)
				if resp.Stream != nil {
					for {
						ev, err := resp.Stream.Next()
						if err != nil {
							b.Fatal(err)
						}
						if string(ev) == "[DONE]" {
							break
						}
						n += len(ev)
					}
				}
				resp.Close()
				return n
			}
			size := read() // the miss that stores the entry
			for c.flights.InFlight() > 0 {
				time.Sleep(time.Millisecond)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t0 := time.Now()
				read()
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			if c.hits.Load() == 0 || u.calls.Load() != 1 {
				b.Fatalf("%d hits, %d upstream calls", c.hits.Load(), u.calls.Load())
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(m.Stats().Bytes), "stored-bytes")
		})
	}
}

// BenchmarkMemoryPerEntry fills the L1 with distinct 2 KB answers and reports what each
// costs: the bytes the store accounts for, and the Go heap it really takes.
func BenchmarkMemoryPerEntry(b *testing.B) {
	for _, tc := range []struct {
		name   string
		stream bool
		above  int
	}{{"body/compressed", false, 1}, {"body/plain", false, 1 << 30}, {"stream/compressed", true, 1}, {"stream/plain", true, 1 << 30}} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 5000
			vals := make([][]byte, n)
			raw := 0
			for i := range vals {
				body, chunks := answer2K(uint64(i))
				e := &Entry{Chunks: [][]byte{[]byte(body)}, Provider: "OpenAI", Model: "openai/gpt-4o-mini", TTL: time.Hour}
				if tc.stream {
					e = &Entry{Stream: true, Chunks: bytesOf(chunks), Provider: "OpenAI", Model: "openai/gpt-4o-mini", TTL: time.Hour}
				}
				vals[i] = e.Marshal()
				raw += len(body)
			}
			var accounted, heap float64
			for b.Loop() {
				m, err := NewMemory(MemoryConfig{CompressAbove: tc.above})
				if err != nil {
					b.Fatal(err)
				}
				// One entry first: the encoder allocates its state on first use, a fixed cost
				// that is not per entry.
				_ = m.Set(context.Background(), Key{0xff}, vals[0], time.Hour)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i, v := range vals {
					var key Key
					copy(key[:], fmt.Sprint(i))
					_ = m.Set(context.Background(), key, v, time.Hour)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				accounted = float64(m.Stats().Bytes) / n
				heap = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(m)
			}
			b.ReportMetric(float64(raw)/n, "answer-bytes")
			b.ReportMetric(accounted, "accounted-bytes/entry")
			b.ReportMetric(heap, "heap-bytes/entry")
		})
	}
}
