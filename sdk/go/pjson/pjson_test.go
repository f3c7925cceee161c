package pjson

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
		{"spaces", " \n\t{ \"a\" : [ 1 , 2 ] } \r\n", true},
		{"empty containers", `[{},[],""]`, true},
		{"numbers", `[0,-0,1.5,-2e10,3E+2,4e-3,123456789012345678901234567890]`, true},
		{"escapes", `"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, true},
		{"lone surrogate is valid JSON", `"\ud800"`, true},
		{"trailing comma", `[1,]`, false},
		{"leading zero", `01`, false},
		{"bare dot", `1.`, false},
		{"bad exponent", `1e`, false},
		{"single quote", `'a'`, false},
		{"control char", "\"a\x01\"", false},
		{"bad escape", `"\x"`, false},
		{"short unicode", `"\u12"`, false},
		{"unterminated", `"abc`, false},
		{"two values", `1 2`, false},
		{"missing colon", `{"a" 1}`, false},
		{"non-string key", `{1:2}`, false},
		{"empty", ``, false},
		{"deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false},
		{"max depth", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Valid([]byte(c.in)); got != c.ok {
				t.Fatalf("Valid(%q) = %v, want %v (%v)", c.in, got, c.ok, Validate([]byte(c.in)))
			}
		})
	}
}

func TestMembers(t *testing.T) {
	in := []byte(` { "model" : "gpt-4o", "mod\u0065l2": [1, {"x": 2}], "n": -1.5e3 } `)
	type m struct{ key, val string }
	var got []m
	it := Members(in)
	for it.Next() {
		got = append(got, m{string(it.Key()), string(it.Value())})
		if string(in[it.Start():it.End()]) != `"`+string(it.Key())+`"`+string(in[it.Start()+len(it.Key())+2:it.End()]) {
			t.Fatalf("Start/End do not delimit the member: %q", in[it.Start():it.End()])
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	want := []m{{"model", `"gpt-4o"`}, {`mod\u0065l2`, `[1, {"x": 2}]`}, {"n", "-1.5e3"}}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("member %d = %q, want %q", i, got[i], want[i])
		}
	}
	if v := Get(in, "model2"); string(v) != `[1, {"x": 2}]` {
		t.Fatalf("Get with an escaped key = %q", v)
	}
	if v := Get(in, "absent"); v != nil {
		t.Fatalf("Get(absent) = %q", v)
	}
}

func TestIterErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		obj  bool
		n    int // items seen before the error
	}{
		{"not an object", `[1]`, true, 0},
		{"not an array", `{}`, false, 0},
		{"bad second member", `{"a":1,"b":}`, true, 1},
		{"missing comma", `[1 2]`, false, 1},
		{"unterminated", `[1,2`, false, 2},
		{"trailing data", `{"a":1} x`, true, 1},
		{"bad value inside", `{"a":[1,}`, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := Elements([]byte(c.in))
			if c.obj {
				it = Members([]byte(c.in))
			}
			n := 0
			for it.Next() {
				n++
			}
			if it.Err() == nil || n != c.n {
				t.Fatalf("saw %d items, err %v; want %d and an error", n, it.Err(), c.n)
			}
		})
	}
}

func TestUnquote(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", `"abc"`, "abc", true},
		{"escapes", `"a\"b\\c\/d\n\t"`, "a\"b\\c/d\n\t", true},
		{"unicode", `"\u00e9\ud83d\ude00"`, "é😀", true},
		{"lone surrogate", `"\ud800x"`, "\uFFFDx", true},
		{"invalid utf8", "\"a\xffb\"", "a\uFFFDb", true},
		{"not a string", `12`, "", false},
		{"bad escape", `"\q"`, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Unquote([]byte(c.in))
			if ok != c.ok || (ok && got != c.want) {
				t.Fatalf("Unquote(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
			}
			if ok && !StringIs([]byte(c.in), c.want) {
				t.Fatalf("StringIs(%q, %q) = false", c.in, c.want)
			}
		})
	}
}

func TestNumbers(t *testing.T) {
	floats := []string{"0", "-0", "1", "310", "310.5", "0.004", "85.2", "2.5", "1e3", "-1.5E-7",
		"123456789012345", "1234567890123456789", "0.1", "0.30000000000000004", "1.7976931348623157e308",
		"4.9e-324", "0.0000000000000000000001", "99999999999999999999999999"}
	for _, s := range floats {
		t.Run("float "+s, func(t *testing.T) {
			want, _ := strconv.ParseFloat(s, 64)
			got, ok := Float([]byte(s))
			if !ok || got != want || math.Signbit(got) != math.Signbit(want) {
				t.Fatalf("Float(%s) = %v, %v; want %v", s, got, ok, want)
			}
		})
	}
	for _, s := range []string{"", "-", "1.", ".5", "1e", "01", "1x", "NaN", "1e999"} {
		if _, ok := Float([]byte(s)); ok {
			t.Errorf("Float(%q) accepted", s)
		}
	}
	ints := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-42", -42, true}, {"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true}, {"9223372036854775808", 0, false},
		{"1.0", 0, false}, {"1e3", 0, false}, {"", 0, false},
	}
	for _, c := range ints {
		t.Run("int "+c.in, func(t *testing.T) {
			got, ok := Int([]byte(c.in))
			if ok != c.ok || got != c.want {
				t.Fatalf("Int(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"quotes and controls", "a\"b\\c\n\r\t\x01", `"a\"b\\c\n\r\t\u0001"`},
		{"utf8 kept", "é😀", `"é😀"`},
		{"invalid utf8", "a\xffb", `"a\ufffdb"`},
		{"line separators", "a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"html left alone", "<a&b>", `"<a&b>"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(AppendString(nil, c.in)); got != c.want {
				t.Fatalf("AppendString(%q) = %s, want %s", c.in, got, c.want)
			}
			if got := string(AppendString(nil, []byte(c.in))); got != c.want {
				t.Fatalf("AppendString([]byte %q) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

func TestAppendFloat(t *testing.T) {
	cases := []struct {
		in   float64
		want string
	}{{0, "0"}, {2.5, "2.5"}, {-310, "-310"}, {1e21, "1e+21"}, {1e-7, "1e-07"}, {math.NaN(), "0"}, {math.Inf(1), "0"}}
	for _, c := range cases {
		got := AppendFloat(nil, c.in)
		if string(got) != c.want || !json.Valid(got) {
			t.Errorf("AppendFloat(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestZeroAlloc(t *testing.T) {
	in := []byte(`{"request":{"model":"gpt-4o"},"candidates":[{"id":"a","ttft_ms":310.5,"circuit":"closed"}]}`)
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		it := Members(in)
		for it.Next() {
			if it.KeyIs("candidates") {
				el := Elements(it.Value())
				for el.Next() {
					c := Members(el.Value())
					for c.Next() {
						switch {
						case c.KeyIs("ttft_ms"):
							Float(c.Value())
						case c.KeyIs("circuit"):
							StringIs(c.Value(), "open")
						case c.KeyIs("id"):
							buf, _ = AppendUnquote(buf[:0], c.Value())
						}
					}
				}
			}
		}
		buf = AppendString(buf[:0], "héllo \"x\"")
		buf = AppendFloat(buf, 310.5)
	})
	if n != 0 {
		t.Fatalf("scanning and writing allocated %v times per run", n)
	}
}

// FuzzScanner holds Valid to encoding/json.Valid, checks that a valid object or array is
// iterated to its end without error and that the items reproduce the input, and that
// Unquote agrees with encoding/json on every string value.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\u00e9"}],"d":null}`, `[true,false,-1.5e3,"\ud83d\ude00"]`,
		`"\ud800"`, `{"a":}`, `[1,]`, "\"\xff\"", `{"k\"ey":"v"}`, ` [ ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := Valid(b)
		if valid != json.Valid(b) {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, valid, !valid)
		}
		if !valid {
			return
		}
		var it Iter
		switch KindOf(bytes.TrimSpace(b)) {
		case Object:
			it = Members(b)
		case Array:
			it = Elements(b)
		case String:
			got, ok := Unquote(bytes.TrimSpace(b))
			var want string
			if err := json.Unmarshal(b, &want); err != nil || !ok || got != want {
				t.Fatalf("Unquote(%q) = %q, %v; encoding/json: %q, %v", b, got, ok, want, err)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Unquote(%q) is not valid UTF-8", b)
			}
			back := AppendString(nil, got)
			var again string
			if err := json.Unmarshal(back, &again); err != nil || again != got {
				t.Fatalf("AppendString(%q) = %s does not read back: %v", got, back, err)
			}
			return
		case Number:
			got, ok := Float(bytes.TrimSpace(b))
			want, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
			if (err == nil) != ok || (ok && got != want) {
				t.Fatalf("Float(%q) = %v, %v; strconv: %v, %v", b, got, ok, want, err)
			}
			return
		default:
			return
		}
		var rebuilt [][]byte
		for it.Next() {
			if !Valid(it.Value()) {
				t.Fatalf("item value %q is not valid", it.Value())
			}
			rebuilt = append(rebuilt, b[it.Start():it.End()])
		}
		if err := it.Err(); err != nil {
			t.Fatalf("iterating valid %q: %v", b, err)
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		n := 0
		switch g := generic.(type) {
		case []any:
			n = len(g)
		case map[string]any:
			n = len(g) // duplicate keys collapse in the map
			if n > len(rebuilt) {
				t.Fatalf("iterated %d members, encoding/json saw %d", len(rebuilt), n)
			}
			return
		}
		if n != len(rebuilt) {
			t.Fatalf("iterated %d elements, encoding/json saw %d", len(rebuilt), n)
		}
	})
}

func BenchmarkScanRoute(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"request":{"model":"gpt-4o","stream":true},"candidates":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"openai/gpt-4o@us-east-` + strconv.Itoa(i) + `","provider":"openai","model":"gpt-4o","region":"us","price":{"prompt":2.5,"completion":10},"ttft_ms":310.25,"tokens_per_second":85.20,"error_rate":0.0040,"degraded":false,"circuit":"closed"}`)
	}
	sb.WriteString("]}")
	in := []byte(sb.String())
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		it := Members(in)
		for it.Next() {
			if it.KeyIs("candidates") {
				el := Elements(it.Value())
				for el.Next() {
					c := Members(el.Value())
					for c.Next() {
						if c.KeyIs("ttft_ms") {
							Float(c.Value())
						}
					}
				}
			}
		}
	}
}
