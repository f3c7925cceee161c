package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// schema is the subset of JSON Schema needed to invent a plausible value.
// Properties keep their declared order, so generated arguments read like a
// model's (which follow the schema) and stay deterministic without sorting.
type schema struct {
	Type        json.RawMessage            `json:"type"`
	Properties  orderedProps               `json:"properties"`
	Required    []string                   `json:"required"`
	Enum        []json.RawMessage          `json:"enum"`
	Const       json.RawMessage            `json:"const"`
	Items       json.RawMessage            `json:"items"`
	AnyOf       []json.RawMessage          `json:"anyOf"`
	OneOf       []json.RawMessage          `json:"oneOf"`
	AllOf       []json.RawMessage          `json:"allOf"`
	Ref         string                     `json:"$ref"`
	Defs        map[string]json.RawMessage `json:"$defs"`
	Definitions map[string]json.RawMessage `json:"definitions"`
	Minimum     *float64                   `json:"minimum"`
	Maximum     *float64                   `json:"maximum"`
	Format      string                     `json:"format"`
}

type prop struct {
	name string
	raw  json.RawMessage
}

type orderedProps []prop

func (p *orderedProps) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("sim: decode properties: %w", err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("sim: decode properties: want an object, got %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("sim: decode properties: %w", err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("sim: decode properties: %w", err)
		}
		*p = append(*p, prop{name: name, raw: raw})
	}
	return nil
}

// maxSchemaDepth stops recursive $refs and hostile nesting, and
// maxSchemaNodes stops $refs that fan out (a definition whose properties all
// refer back to it grows exponentially with depth). Past either limit a
// value is null, which is still valid JSON.
const (
	maxSchemaDepth = 12
	maxSchemaNodes = 2048
)

// schemaGen invents a value for a JSON schema. It is deterministic in seed
// and the schema text.
type schemaGen struct {
	seed        uint64
	defs        map[string]json.RawMessage // root "$defs"
	definitions map[string]json.RawMessage // root "definitions" (draft-07 and older)
	nodes       int
	buf         []byte
}

// generateArguments returns compact JSON for params (a tool's parameters
// schema). An empty or null schema gives "{}", as a model would for a tool
// with no parameters.
func generateArguments(params json.RawMessage, seed uint64) (string, error) {
	if len(bytes.TrimSpace(params)) == 0 || string(bytes.TrimSpace(params)) == "null" {
		return "{}", nil
	}
	var root schema
	if err := json.Unmarshal(params, &root); err != nil {
		return "", fmt.Errorf("sim: decode schema: %w", err)
	}
	g := &schemaGen{seed: seed, defs: root.Defs, definitions: root.Definitions}
	g.value(&root, "", 0, true)
	return string(g.buf), nil
}

func (g *schemaGen) decodeAndValue(raw json.RawMessage, name string, depth int) {
	if depth > maxSchemaDepth || g.nodes >= maxSchemaNodes {
		g.buf = append(g.buf, "null"...)
		return
	}
	var s schema
	if err := json.Unmarshal(raw, &s); err != nil {
		// true/false schemas and junk: any value will do.
		g.stringValue(&s, name)
		return
	}
	g.value(&s, name, depth, false)
}

func (g *schemaGen) value(s *schema, name string, depth int, root bool) {
	if g.nodes++; depth > maxSchemaDepth || g.nodes > maxSchemaNodes {
		g.buf = append(g.buf, "null"...)
		return
	}
	if s.Ref != "" {
		if raw, ok := g.lookupRef(s.Ref); ok {
			g.decodeAndValue(raw, name, depth+1)
			return
		}
	}
	if len(s.Const) > 0 && g.appendRaw(s.Const) {
		return
	}
	if len(s.Enum) > 0 && g.appendRaw(s.Enum[0]) {
		return
	}
	for _, alts := range [][]json.RawMessage{s.AnyOf, s.OneOf, s.AllOf} {
		for _, alt := range alts {
			if !isNullSchema(alt) {
				g.decodeAndValue(alt, name, depth+1)
				return
			}
		}
	}
	typ := schemaType(s.Type)
	if typ == "" {
		switch {
		case len(s.Properties) > 0 || root:
			typ = "object"
		case len(s.Items) > 0:
			typ = "array"
		default:
			typ = "string"
		}
	}
	switch typ {
	case "object":
		g.objectValue(s, depth)
	case "array":
		g.buf = append(g.buf, '[')
		if len(s.Items) > 0 && s.Items[0] == '[' {
			var tuple []json.RawMessage
			if json.Unmarshal(s.Items, &tuple) == nil && len(tuple) > 0 {
				g.decodeAndValue(tuple[0], name, depth+1)
			}
		} else if len(s.Items) > 0 {
			g.decodeAndValue(s.Items, name, depth+1)
		} else {
			g.buf = jsonx.AppendString(g.buf, word(fnvString(g.seed, name)))
		}
		g.buf = append(g.buf, ']')
	case "integer":
		g.buf = strconv.AppendInt(g.buf, int64(g.number(s, name, true)), 10)
	case "number":
		g.buf = strconv.AppendFloat(g.buf, g.number(s, name, false), 'f', -1, 64)
	case "boolean":
		g.buf = append(g.buf, "true"...)
	case "null":
		g.buf = append(g.buf, "null"...)
	default:
		g.stringValue(s, name)
	}
}

func (g *schemaGen) objectValue(s *schema, depth int) {
	g.buf = append(g.buf, '{')
	n := 0
	done := make(map[string]bool, len(s.Properties)+len(s.Required))
	emit := func(name string, raw json.RawMessage) {
		if done[name] {
			return // duplicate keys would be valid JSON but useless arguments
		}
		done[name] = true
		if n > 0 {
			g.buf = append(g.buf, ',')
		}
		n++
		g.buf = jsonx.AppendString(g.buf, name)
		g.buf = append(g.buf, ':')
		if raw == nil {
			g.stringValue(&schema{}, name)
			return
		}
		g.decodeAndValue(raw, name, depth+1)
	}
	if len(s.Required) == 0 {
		for _, p := range s.Properties {
			emit(p.name, p.raw)
		}
	} else {
		for _, p := range s.Properties {
			if contains(s.Required, p.name) {
				emit(p.name, p.raw)
			}
		}
		// Required but undeclared keys still have to be present.
		for _, r := range s.Required {
			emit(r, nil)
		}
	}
	g.buf = append(g.buf, '}')
}

func (g *schemaGen) stringValue(s *schema, name string) {
	w := word(fnvString(g.seed, name))
	switch s.Format {
	case "date":
		g.buf = append(g.buf, `"2026-01-01"`...)
	case "date-time":
		g.buf = append(g.buf, `"2026-01-01T00:00:00Z"`...)
	case "time":
		g.buf = append(g.buf, `"12:00:00Z"`...)
	case "email":
		g.buf = jsonx.AppendString(g.buf, w+"@example.com")
	case "uri", "url":
		g.buf = jsonx.AppendString(g.buf, "https://example.com/"+w)
	case "uuid":
		g.buf = append(g.buf, `"00000000-0000-4000-8000-000000000000"`...)
	default:
		g.buf = jsonx.AppendString(g.buf, w)
	}
}

func (g *schemaGen) number(s *schema, name string, integer bool) float64 {
	v := float64(1 + mix64(fnvString(g.seed, name))%100)
	if !integer {
		v += 0.5
	}
	if s.Minimum != nil && v < *s.Minimum {
		v = *s.Minimum
	}
	if s.Maximum != nil && v > *s.Maximum {
		v = *s.Maximum
	}
	if integer {
		const limit = 1 << 53
		v = float64(int64(max(min(v, limit), -limit)))
	}
	return v
}

// appendRaw appends a literal taken from the schema, compacted. It reports
// false when the literal is not valid JSON, so the caller falls back.
func (g *schemaGen) appendRaw(raw json.RawMessage) bool {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return false
	}
	g.buf = append(g.buf, out.Bytes()...)
	return true
}

func (g *schemaGen) lookupRef(ref string) (json.RawMessage, bool) {
	if name, ok := strings.CutPrefix(ref, "#/$defs/"); ok {
		raw, ok := g.defs[name]
		return raw, ok
	}
	if name, ok := strings.CutPrefix(ref, "#/definitions/"); ok {
		raw, ok := g.definitions[name]
		return raw, ok
	}
	return nil, false
}

// schemaType reads "type", which may be a string or a list; a nullable list
// like ["string","null"] means the non-null type.
func schemaType(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
		if len(many) > 0 {
			return many[0]
		}
	}
	return ""
}

func isNullSchema(raw json.RawMessage) bool {
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	return json.Unmarshal(raw, &s) == nil && schemaType(s.Type) == "null"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
