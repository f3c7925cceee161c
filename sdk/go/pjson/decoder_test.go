package pjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// walk consumes the value under d's cursor generically and returns its canonical form,
// to compare with encoding/json's.
func walk(d *Decoder, sb *strings.Builder) {
	switch d.Kind() {
	case Object:
		sb.WriteByte('{')
		n := 0
		for d.NextMember() {
			if n > 0 {
				sb.WriteByte(',')
			}
			n++
			sb.Write(AppendString(nil, d.Key()))
			sb.WriteByte(':')
			walk(d, sb)
		}
		sb.WriteByte('}')
	case Array:
		sb.WriteByte('[')
		n := 0
		for d.NextElement() {
			if n > 0 {
				sb.WriteByte(',')
			}
			n++
			walk(d, sb)
		}
		sb.WriteByte(']')
	case String:
		sb.Write(AppendString(nil, d.Str()))
	default:
		sb.Write(d.Skip())
	}
}

func TestDecoder(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"nested", ` {"a" : [1, {"b":null}, "x\n"], "k\u0065y":true} `, `{"a":[1,{"b":null},"x\n"],"key":true}`, true},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, true},
		{"scalar", `  -1.5e3 `, `-1.5e3`, true},
		{"stray closer", `}`, ``, false},
		{"stray comma", `,1`, ``, false},
		{"mismatched", `{"a":[1}`, ``, false},
		{"trailing", `{} {}`, ``, false},
		{"missing colon", `{"a" 1}`, ``, false},
		{"unterminated", `[1,2`, ``, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder([]byte(c.in))
			var sb strings.Builder
			walk(d, &sb)
			err := d.Finish()
			if (err == nil) != c.ok || (c.ok && sb.String() != c.want) {
				t.Fatalf("walk = %s, %v; want %s, ok %v", sb.String(), err, c.want, c.ok)
			}
		})
	}
}

func TestDecoderPos(t *testing.T) {
	in := []byte(`{"a": "xy" , "b":[ 1 ]}`)
	d := NewDecoder(in)
	var got []string
	for d.NextMember() {
		start := d.Pos()
		d.Skip()
		got = append(got, string(in[start:d.Pos()]))
	}
	if err := d.Finish(); err != nil || strings.Join(got, "|") != `"xy"|[ 1 ]` {
		t.Fatalf("values = %q, %v", got, err)
	}
}

// FuzzDecoder holds a generic single-pass walk to encoding/json: it succeeds exactly on
// valid JSON and then reproduces what encoding/json decodes.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c"}]}`, `[]`, `}`, `[1,]`, `{"a":1]`, `"\ud800"`, `{"\u0061":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		var sb strings.Builder
		walk(d, &sb)
		err := d.Finish()
		if (err == nil) != json.Valid(b) {
			t.Fatalf("decoder err %v, encoding/json.Valid %v, on %q", err, json.Valid(b), b)
		}
		if err != nil {
			return
		}
		// UseNumber keeps numbers as text, so 1E1000 (valid JSON, no float64) compares too.
		var want, got any
		if useNumber(b, &want) != nil || useNumber([]byte(sb.String()), &got) != nil {
			t.Fatalf("canonical form %q of %q does not decode", sb.String(), b)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) {
			t.Fatalf("walk of %q = %s, encoding/json %s", b, gj, wj)
		}
	})
}

func useNumber(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}
