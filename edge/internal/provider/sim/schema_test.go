package sim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGenerateArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		want   string
	}{
		{name: "empty", schema: ``, want: `{}`},
		{name: "null", schema: `null`, want: `{}`},
		{name: "no properties", schema: `{"type":"object"}`, want: `{}`},
		{name: "declared order kept", schema: `{"properties":{"z":{"type":"boolean"},"a":{"type":"null"}}}`, want: `{"z":true,"a":null}`},
		{name: "enum and const", schema: `{"properties":{"e":{"enum":[ {"k": 1} ]},"c":{"const":"x"}}}`, want: `{"e":{"k":1},"c":"x"}`},
		{name: "bounds", schema: `{"properties":{"lo":{"type":"integer","minimum":500},"hi":{"type":"number","maximum":-2.5}}}`, want: `{"lo":500,"hi":-2.5}`},
		{name: "formats", schema: `{"properties":{"d":{"type":"string","format":"date"},"u":{"type":"string","format":"uuid"}}}`, want: `{"d":"2026-01-01","u":"00000000-0000-4000-8000-000000000000"}`},
		{name: "tuple items", schema: `{"properties":{"t":{"type":"array","items":[{"type":"integer","minimum":3,"maximum":3}]}}}`, want: `{"t":[3]}`},
		{name: "draft-07 definitions", schema: `{"definitions":{"B":{"type":"boolean"}},"properties":{"b":{"$ref":"#/definitions/B"}}}`, want: `{"b":true}`},
		{name: "duplicate property", schema: `{"properties":{"a":{"type":"boolean"},"a":{"type":"null"}}}`, want: `{"a":true}`},
		{name: "unresolvable ref", schema: `{"properties":{"r":{"$ref":"https://example.com/s.json","type":"boolean"}}}`, want: `{"r":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := generateArguments(json.RawMessage(tc.schema), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("invalid schema", func(t *testing.T) {
		if _, err := generateArguments(json.RawMessage(`{"properties":[1]}`), 1); err == nil || !strings.HasPrefix(err.Error(), "sim: ") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("fan-out refs stay bounded", func(t *testing.T) {
		var props []string
		for _, c := range "abcdefghij" {
			props = append(props, `"`+string(c)+`":{"$ref":"#/$defs/N"}`)
		}
		schema := `{"$defs":{"N":{"type":"object","properties":{` + strings.Join(props, ",") + `}}},"$ref":"#/$defs/N"}`
		got, err := generateArguments(json.RawMessage(schema), 1)
		if err != nil || !json.Valid([]byte(got)) || len(got) > 1<<20 {
			t.Errorf("err %v, %d bytes", err, len(got))
		}
	})
}

func FuzzGenerateArguments(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"type":"string","enum":["x"]},"b":{"type":["integer","null"],"minimum":1e308}},"required":["a","c"]}`,
		`{"$defs":{"N":{"properties":{"n":{"$ref":"#/$defs/N"},"m":{"$ref":"#/$defs/N"}}}},"$ref":"#/$defs/N"}`,
		`{"anyOf":[{"type":"null"},{"items":{"items":{}}}]}`,
		`{"properties":{"\u00e9\ud800":{"const":"\udfff"}}}`,
		`true`, `[]`, `"s"`, `{"type":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		out, err := generateArguments(schema, 42)
		if err != nil {
			return
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("invalid JSON %q from schema %q", out, schema)
		}
	})
}
