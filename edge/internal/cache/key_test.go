package cache

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func key(t testing.TB, in Inputs, body string) Key {
	t.Helper()
	k, err := KeyOf(in, []byte(body))
	if err != nil {
		t.Fatalf("KeyOf(%s): %v", body, err)
	}
	return k
}

const base = `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":100}`

func TestKeySame(t *testing.T) {
	in := Inputs{Scope: "acct-1", Model: "openai/gpt-4o"}
	want := key(t, in, base)
	for name, body := range map[string]string{
		"key order":           `{"max_tokens":100,"temperature":0,"messages":[{"content":"hi","role":"user"}],"model":"openai/gpt-4o"}`,
		"whitespace":          "{ \"model\" : \"openai/gpt-4o\",\n\t\"messages\": [ {\"role\":\"user\", \"content\":\"hi\"} ], \"temperature\":0, \"max_tokens\":100 }",
		"number spelling":     `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.0,"max_tokens":1e2}`,
		"negative zero":       `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":-0,"max_tokens":100.00}`,
		"string escapes":      `{"model":"openai/gpt-4o","messages":[{"role":"\u0075ser","content":"h\u0069"}],"temperature":0,"max_tokens":100}`,
		"stream and delivery": `{"model":"openai/gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":100}`,
		"who asked":           `{"model":"openai/gpt-4o","user":"u-7","metadata":{"a":"b"},"session_id":"s","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":100}`,
		"requested model id":  `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":100}`,
	} {
		t.Run(name, func(t *testing.T) {
			if got := key(t, in, body); got != want {
				t.Fatalf("key differs for an equal request: %s", body)
			}
		})
	}
}

func TestKeyDiffers(t *testing.T) {
	in := Inputs{Scope: "acct-1", Model: "openai/gpt-4o"}
	want := key(t, in, base)
	tests := []struct {
		name string
		in   Inputs
		body string
	}{
		{"content", in, strings.Replace(base, `"hi"`, `"hi!"`, 1)},
		{"role", in, strings.Replace(base, `"user"`, `"system"`, 1)},
		{"temperature", in, strings.Replace(base, `"temperature":0`, `"temperature":0.1`, 1)},
		{"max_tokens", in, strings.Replace(base, `100`, `101`, 1)},
		{"message order", in, `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}],"temperature":0,"max_tokens":100}`},
		{"tools", in, strings.Replace(base, `"temperature":0`, `"temperature":0,"tools":[{"type":"function","function":{"name":"f"}}]`, 1)},
		{"seed", in, strings.Replace(base, `"temperature":0`, `"temperature":0,"seed":7`, 1)},
		{"response format", in, strings.Replace(base, `"temperature":0`, `"temperature":0,"response_format":{"type":"json_object"}`, 1)},
		{"tenant", Inputs{Scope: "acct-2", Model: in.Model}, base},
		{"resolved model", Inputs{Scope: in.Scope, Model: "openai/gpt-4o-mini"}, base},
		{"route policy", Inputs{Scope: in.Scope, Model: in.Model, Policy: []byte(`{"order":["azure"]}`)}, base},
		{"scope and model boundary", Inputs{Scope: "acct-1openai", Model: "/gpt-4o"}, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if key(t, tt.in, tt.body) == want {
				t.Fatalf("key is the same for a different request")
			}
		})
	}
}

func TestKeyNumbers(t *testing.T) {
	same := [][]string{
		{"1.5", "15e-1", "1.50", "0.15E1", "150e-2"},
		{"100", "1e2", "100.0", "1E+2"},
		{"0", "-0", "0.0", "0e10"},
		{"0.05", "5e-2", "0.050"},
		{"12345678901234567890", "1.2345678901234567890e19"},
	}
	seen := map[string]string{}
	for _, group := range same {
		first, err := appendNumber(nil, []byte(group[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range group[1:] {
			got, err := appendNumber(nil, []byte(n))
			if err != nil || !bytes.Equal(got, first) {
				t.Errorf("%s -> %s, want %s (as %s)", n, got, first, group[0])
			}
		}
		if other, ok := seen[string(first)]; ok {
			t.Errorf("%s and %s share the spelling %s", group[0], other, first)
		}
		seen[string(first)] = group[0]
	}
	a, _ := appendNumber(nil, []byte("12345678901234567890"))
	b, _ := appendNumber(nil, []byte("12345678901234567891"))
	if bytes.Equal(a, b) {
		t.Fatal("neighbouring 20-digit integers must not share a key (seeds)")
	}
}

func TestKeyRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not an object":  `[1]`,
		"duplicate keys": `{"model":"m","temperature":0,"temperature":1}`,
		"truncated":      `{"model":"m","messages":[`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := KeyOf(Inputs{}, []byte(body)); err == nil || !strings.HasPrefix(err.Error(), "cache: key") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// respell re-encodes a decoded JSON value with sorted keys, indentation and every number
// in a different but equal spelling (an exponent added), as another client would send it.
func respell(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = respell(e)
		}
	case []any:
		for i, e := range x {
			x[i] = respell(e)
		}
	case json.Number:
		if !strings.ContainsAny(string(x), "eE") {
			return json.Number(string(x) + "e0")
		}
	}
	return v
}

// FuzzKey: a body and the same body as another client would write it (keys sorted,
// indented, numbers respelled, escapes normalised) share a key; adding a member changes it.
func FuzzKey(f *testing.F) {
	f.Add(base)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"text","text":"a\u00e9\n"}]}],"seed":12345678901234567890,"stop":["x"],"top_p":0.5e1}`)
	f.Add(`{"a":{"b":[1,2.50,{"c":null,"d":true}]},"tools":[]}`)
	f.Fuzz(func(t *testing.T, body string) {
		in := Inputs{Scope: "s", Model: "m"}
		k1, err := KeyOf(in, []byte(body))
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v map[string]any
		if err := dec.Decode(&v); err != nil || dec.More() {
			return // not one JSON object, as encoding/json reads it
		}
		alt, err := json.MarshalIndent(respell(v), "", "  ")
		if err != nil {
			return
		}
		k2, err := KeyOf(in, alt)
		if err != nil {
			t.Fatalf("respelled body refused: %v\n%s", err, alt)
		}
		if k1 != k2 {
			t.Fatalf("equal bodies, different keys:\n%s\n%s", body, alt)
		}
		v["zz_content"] = "changed"
		changed, _ := json.Marshal(v)
		if k3, err := KeyOf(in, changed); err != nil || k3 == k1 {
			t.Fatalf("a new member did not change the key (%v):\n%s", err, changed)
		}
	})
}

func BenchmarkKeyOf(b *testing.B) {
	body := []byte(`{"model":"openai/gpt-4o","temperature":0,"max_tokens":512,"messages":[` +
		`{"role":"system","content":"You are a careful assistant. Answer briefly."},` +
		`{"role":"user","content":"` + strings.Repeat("What is the capital of France and why? ", 40) + `"}]}`)
	in := Inputs{Scope: "acct-1", Model: "openai/gpt-4o"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := KeyOf(in, body); err != nil {
			b.Fatal(err)
		}
	}
}
