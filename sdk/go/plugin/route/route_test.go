package route

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/crossroads-llm/crossroads/sdk/go/internal/guest"
)

// hostInput is hook_route's input exactly as edge/internal/extension writes it.
const hostInput = `{"request":{"model":"gpt-4o","stream":true,"max_tokens":512,"tools":false},"candidates":[` +
	`{"id":"openai/gpt-4o@us-east","provider":"openai","model":"gpt-4o","region":"us-east","price":{"prompt":2.5,"completion":10},"ttft_ms":310.25,"tokens_per_second":85.20,"error_rate":0.0040,"degraded":false,"circuit":"closed"},` +
	`{"id":"azure/gpt-4o@eu","provider":"azure","model":"gpt-4o","region":"eu","price":{"prompt":2.75,"completion":11},"ttft_ms":95,"tokens_per_second":0.00,"error_rate":1.0000,"degraded":true,"circuit":"half_open"}]}`

func TestDecode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Input
	}{
		{"host format", hostInput, Input{
			Request: Request{Model: "gpt-4o", Stream: true, MaxTokens: 512},
			Candidates: []Candidate{
				{ID: "openai/gpt-4o@us-east", Provider: "openai", Model: "gpt-4o", Region: "us-east", Price: Price{2.5, 10},
					TTFTms: 310.25, TokensPerSecond: 85.2, ErrorRate: 0.004, Circuit: Closed},
				{ID: "azure/gpt-4o@eu", Provider: "azure", Model: "gpt-4o", Region: "eu", Price: Price{2.75, 11},
					TTFTms: 95, ErrorRate: 1, Degraded: true, Circuit: HalfOpen},
			}}},
		{"escapes, unknown fields and wrong types", `{"now_ms":1,"request":{"region":"eu","user":"u\"1","tools":true,"x":[{}]},` +
			`"candidates":[{"\u0069d":"a\u00e9","circuit":"weird","ttft_ms":"fast","price":{"prompt":null,"cached":1}}]}`, Input{
			Request:    Request{Region: "eu", User: `u"1`, Tools: true},
			Candidates: []Candidate{{ID: "aé", Circuit: "weird"}}}},
		{"empty", `{}`, Input{Candidates: []Candidate{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Input
			if err := Decode([]byte(c.in), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"candidates":[{"id":1}`, `{"candidates":[1,]}`, `{} x`} {
		var got Input
		err := Decode([]byte(bad), &got)
		var ge *guest.Error
		if !errors.As(err, &ge) || ge.Code != "bad_input" {
			t.Errorf("Decode(%q) = %v, want a bad_input error", bad, err)
		}
	}
}

func TestOutputAppend(t *testing.T) {
	cases := []struct {
		name string
		out  Output
		want string
	}{
		{"empty", Output{}, `{"order":[]}`},
		{"ids escaped", Output{Order: []string{"a", `b"c`, "d\n"}}, `{"order":["a","b\"c","d\n"]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(c.out.Append(nil)); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	in := []byte(hostInput)
	n := testing.AllocsPerRun(100, func() {
		var got Input
		_ = Decode(in, &got)
	})
	// The candidates slice, the string arena (growing) and the one string made from it.
	if n > 6 {
		t.Fatalf("Decode allocated %v times per call; it should not allocate per string", n)
	}
}

// FuzzDecode checks that arbitrary input never panics the decoder (a panic traps the
// plugin) and that it only accepts valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(hostInput))
	f.Add([]byte(`{"candidates":[{"id":"\ud800","price":{"prompt":1e400}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var in Input
		if Decode(b, &in) == nil && !json.Valid(b) {
			t.Fatalf("Decode accepted invalid JSON %q", b)
		}
	})
}

func BenchmarkDecode20(b *testing.B) {
	in := []byte(`{"request":{"model":"gpt-4o"},"candidates":[`)
	for i := range 20 {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, hostInput[len(`{"request":{"model":"gpt-4o","stream":true,"max_tokens":512,"tools":false},"candidates":[`):len(hostInput)-len(`,{"id":"azure/gpt-4o@eu","provider":"azure","model":"gpt-4o","region":"eu","price":{"prompt":2.75,"completion":11},"ttft_ms":95,"tokens_per_second":0.00,"error_rate":1.0000,"degraded":true,"circuit":"half_open"}]}`)]...)
	}
	in = append(in, "]}"...)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var got Input
		if err := Decode(in, &got); err != nil || len(got.Candidates) != 20 {
			b.Fatal(err)
		}
	}
}
