package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty object", `{}`, true},
		{"nested", `{"a":[1,2,{"b":null}],"c":"x\"y","d":-0.5e+3,"e":true}`, true},
		{"surrounding space", " \n\t{\"a\":1}\r\n", true},
		{"scalar", `"str"`, true},
		{"empty", ``, false},
		{"trailing comma object", `{"a":1,}`, false},
		{"trailing comma array", `[1,]`, false},
		{"leading zero", `01`, false},
		{"bare minus", `-`, false},
		{"dot without digits", `1.`, false},
		{"exponent without digits", `1e`, false},
		{"unterminated string", `"abc`, false},
		{"control char in string", "\"a\x01b\"", false},
		{"bad escape", `"\x"`, false},
		{"bad unicode escape", `"\u12g4"`, false},
		{"two values", `{} {}`, false},
		{"single quotes", `{'a':1}`, false},
		{"unquoted key", `{a:1}`, false},
		{"truncated literal", `tru`, false},
		{"missing colon", `{"a" 1}`, false},
		{"invalid utf8 accepted like encoding/json", "\"\xff\"", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if std := json.Valid([]byte(tt.in)); std != tt.ok {
				t.Fatalf("encoding/json.Valid(%q) = %v, test table is wrong", tt.in, std)
			}
		})
	}
}

func TestTooDeep(t *testing.T) {
	in := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if err := Validate([]byte(in)); err != ErrTooDeep {
		t.Fatalf("got %v, want ErrTooDeep", err)
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if err := Validate([]byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

func TestObjectIteration(t *testing.T) {
	in := []byte(` { "model" : "gpt-4o" , "mod\u0065l":"x", "n":[1,{"a":2}], "s":null } `)
	var keys, vals []string
	it := Object(in)
	for it.Next() {
		m := it.Member()
		keys = append(keys, string(m.Key))
		vals = append(vals, string(m.Value))
		if got := string(in[m.Start:m.End]); !strings.HasPrefix(got, `"`+string(m.Key)+`"`) || !strings.HasSuffix(got, string(m.Value)) {
			t.Fatalf("member span %q does not cover key and value", got)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"model", `mod\u0065l`, "n", "s"}
	if strings.Join(keys, "|") != strings.Join(want, "|") {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	if vals[2] != `[1,{"a":2}]` || vals[0] != `"gpt-4o"` {
		t.Fatalf("values = %q", vals)
	}
	if in[it.End()-1] != '}' {
		t.Fatalf("End() = %d does not follow the closing brace", it.End())
	}
}

func TestKeyIsDecodesEscapes(t *testing.T) {
	it := Object([]byte(`{"mod\u0065l":1,"model":2,"m\"":3}`))
	var hits int
	for it.Next() {
		if it.Member().KeyIs("model") {
			hits++
		}
	}
	if hits != 2 {
		t.Fatalf("KeyIs(model) matched %d members, want 2", hits)
	}
}

func TestIteratorErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not an object", `[1]`},
		{"truncated", `{"a":1`},
		{"bad separator", `{"a":1;"b":2}`},
		{"bad value", `{"a":tru}`},
		{"non-string key", `{1:2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := Object([]byte(tt.in))
			for it.Next() {
			}
			if it.Err() == nil {
				t.Fatalf("no error for %q", tt.in)
			}
		})
	}
	a := Array([]byte(`[1,2`))
	for a.Next() {
	}
	if a.Err() == nil {
		t.Fatal("no error for truncated array")
	}
}

func TestArrayIteration(t *testing.T) {
	var got []string
	it := Array([]byte(` [ 1 , "two" , [3] , {"four":4} ] `))
	for it.Next() {
		got = append(got, string(it.Value()))
	}
	if it.Err() != nil || strings.Join(got, "|") != `1|"two"|[3]|{"four":4}` {
		t.Fatalf("got %q, err %v", got, it.Err())
	}
	empty := Array([]byte(`[]`))
	if empty.Next() || empty.Err() != nil {
		t.Fatal("empty array yielded an element or an error")
	}
}

func TestUnquote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", `"abc"`, "abc"},
		{"escapes", `"a\"b\\c\/d\n\t"`, "a\"b\\c/d\n\t"},
		{"unicode", `"\u00e9\u4e2d"`, "é中"},
		{"surrogate pair", `"\ud83d\ude00"`, "😀"},
		{"lone surrogate", `"\ud83d"`, "\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Unquote([]byte(tt.in))
			if !ok || got != tt.want {
				t.Fatalf("Unquote(%s) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\r\t", "é中😀", "bad\xffutf8", "sep\u2028\u2029"} {
		enc := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, enc, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	}
}

func TestAppendStringContent(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ``},
		{"plain", "plain", `plain`},
		{"quote and backslash", `a"b\c`, `a\"b\\c`},
		{"short escapes", "\n\r\t", `\n\r\t`},
		{"other controls", "\x00\b\f\x1f", `\u0000\u0008\u000c\u001f`},
		{"html left alone", "<a&b>", `<a&b>`},
		{"multibyte", "é中😀", "é中😀"},
		{"invalid utf8", "a\xffb\xc3", `a\ufffdb\ufffd`},
		{"line separators", "x\u2028y\u2029", `x\u2028y\u2029`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte(`"pre`)
			got := AppendStringContent(prefix, tt.in)
			if string(got) != `"pre`+tt.want {
				t.Fatalf("AppendStringContent(%q) = %s, want %s", tt.in, got[len(prefix):], tt.want)
			}
			if q := AppendString(nil, tt.in); string(q) != `"`+tt.want+`"` {
				t.Fatalf("AppendString(%q) = %s, want the content quoted", tt.in, q)
			}
		})
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]bool{"12": true, "-3": true, "1.0": false, "1e3": false, "": false, "99999999999999999999": false} {
		if _, ok := ParseInt([]byte(in)); ok != want {
			t.Errorf("ParseInt(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-0.1e5`, `[1,]`, `{"a"`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours := Valid(data)
		if std := json.Valid(data); ours != std && Validate(data) != ErrTooDeep {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, ours, std)
		}
		if !ours {
			return
		}
		// Iterating an object must see exactly the members encoding/json sees.
		var std map[string]json.RawMessage
		if json.Unmarshal(data, &std) != nil {
			return
		}
		it := Object(data)
		n := 0
		for it.Next() {
			m := it.Member()
			key, ok := Unquote(data[m.Start : m.Start+len(m.Key)+2])
			if !ok {
				t.Fatalf("key %q did not unquote", m.Key)
			}
			if _, found := std[key]; !found {
				t.Fatalf("key %q not seen by encoding/json", key)
			}
			n++
		}
		if it.Err() != nil {
			t.Fatalf("iteration error on valid object: %v", it.Err())
		}
		if n < len(std) {
			t.Fatalf("iterated %d members, encoding/json has %d distinct keys", n, len(std))
		}
	})
}

func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\n"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !Valid(data) || KindOfValue(SkipSpaceSlice(data)) != KindString {
			return
		}
		var want string
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := Unquote(SkipSpaceSlice(data))
		if !ok || got != want {
			t.Fatalf("Unquote(%q) = %q, %v; encoding/json gives %q", data, got, ok, want)
		}
	})
}

// SkipSpaceSlice trims surrounding JSON whitespace, for tests.
func SkipSpaceSlice(b []byte) []byte {
	i := SkipSpace(b, 0)
	j := len(b)
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

var benchBody = []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"What is the capital of France? Explain in one sentence, and mention one landmark."}],"max_tokens":64,"temperature":0.2,"stream":false}`)

func BenchmarkValidate(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if !Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkStdValid(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkObjectIterate(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		it := Object(benchBody)
		for it.Next() {
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
}
