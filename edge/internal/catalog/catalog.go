// Package catalog owns what the node can serve: models, the provider endpoints behind each,
// their prices, limits and capabilities, and the /models document built from them.
//
// A Catalog is immutable once built; a configuration reload builds a new one. Lookups on
// the request path are one map read.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
)

// Pricing is in USD per token (Request: per request), the unit of OpenRouter's schema.
type Pricing struct {
	Prompt, Completion, Request, InputCacheRead, InputCacheWrite float64
}

// Endpoint is one provider serving a model.
type Endpoint struct {
	// Provider is the provider's slug, the key of its adapter.
	Provider string
	// UpstreamID is the model id the provider expects in the request body.
	UpstreamID string
	Pricing    Pricing
	// ContextLength and MaxCompletionTokens are 0 when unknown.
	ContextLength, MaxCompletionTokens int
}

// Model is one model clients can ask for.
type Model struct {
	ID, Name, Description string
	// Created is when the model appeared in this catalog (unix seconds).
	Created             int64
	ContextLength       int
	MaxCompletionTokens int
	Pricing             Pricing
	InputModalities     []string
	SupportedParameters []string
	// Endpoints serve the model, in preference order.
	Endpoints []Endpoint
}

// passthrough is a provider that serves model ids it does not list.
type passthrough struct {
	provider string
	prefix   string // "" serves every id
}

// Catalog is an immutable set of models.
type Catalog struct {
	models      []*Model
	byID        map[string]*Model
	passthrough []passthrough
	modelsJSON  []byte
}

// Build makes a catalog from the configured providers plus extra models (the simulated
// provider's). created stamps models whose configuration carries no date.
func Build(cfg *config.Config, extra []*Model, created time.Time) (*Catalog, error) {
	c := &Catalog{byID: map[string]*Model{}}
	add := func(m *Model, aliases []string) error {
		for _, id := range append([]string{m.ID}, aliases...) {
			if prev, ok := c.byID[id]; ok && prev != m {
				return fmt.Errorf("catalog: add %q: id %q already names model %q", m.ID, id, prev.ID)
			}
			c.byID[id] = m
		}
		c.models = append(c.models, m)
		return nil
	}
	for _, m := range extra {
		if err := add(m, nil); err != nil {
			return nil, err
		}
	}
	for _, p := range cfg.Providers {
		for _, cm := range p.Models {
			pr := Pricing{
				Prompt: perToken(cm.Pricing.Prompt), Completion: perToken(cm.Pricing.Completion),
				Request: cm.Pricing.Request, InputCacheRead: perToken(cm.Pricing.InputCacheRead),
				InputCacheWrite: perToken(cm.Pricing.InputCacheWrite),
			}
			m := &Model{
				ID: cm.ID, Name: cm.Name, Created: created.Unix(),
				ContextLength: cm.ContextLength, MaxCompletionTokens: cm.MaxCompletionTokens,
				Pricing: pr, InputModalities: cm.InputModalities, SupportedParameters: cm.SupportedParameters,
				Endpoints: []Endpoint{{Provider: p.Name, UpstreamID: cm.UpstreamID, Pricing: pr,
					ContextLength: cm.ContextLength, MaxCompletionTokens: cm.MaxCompletionTokens}},
			}
			if err := add(m, cm.Aliases); err != nil {
				return nil, err
			}
		}
		if p.Passthrough != "" {
			prefix := p.Passthrough
			if prefix == "*" {
				prefix = ""
			}
			c.passthrough = append(c.passthrough, passthrough{provider: p.Name, prefix: prefix})
		}
	}
	// Prefix passthroughs are more specific than "*", so they are tried first.
	slices.SortStableFunc(c.passthrough, func(a, b passthrough) int { return len(b.prefix) - len(a.prefix) })
	doc, err := c.buildModelsJSON()
	if err != nil {
		return nil, err
	}
	c.modelsJSON = doc
	return c, nil
}

// perToken converts a price per million tokens to a price per token, exactly for the decimal
// prices people write (0.15 stays 0.00000015, not 1.4999999999999999e-07).
func perToken(perMillion float64) float64 {
	v, _ := strconv.ParseFloat(shiftDecimal(strconv.FormatFloat(perMillion, 'f', -1, 64), 6), 64)
	return v
}

// shiftDecimal divides the decimal string s by 10^n by moving its point.
func shiftDecimal(s string, n int) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	for len(intPart) <= n {
		intPart = "0" + intPart
	}
	out := intPart[:len(intPart)-n] + "." + intPart[len(intPart)-n:] + frac
	out = strings.TrimRight(strings.TrimLeft(out, "0"), "0")
	if strings.HasPrefix(out, ".") {
		out = "0" + out
	}
	out = strings.TrimSuffix(out, ".")
	if out == "" || out == "0" {
		return "0"
	}
	if neg {
		return "-" + out
	}
	return out
}

// PriceString formats a per-token price the way OpenRouter's /models does: a decimal string.
func PriceString(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Resolve finds the model for a requested id: an exact id or alias first, then a provider
// that passes unlisted ids through. A passthrough model is built per call; it is small and
// rare compared with listed models.
func (c *Catalog) Resolve(id string) (*Model, bool) {
	if m, ok := c.byID[id]; ok {
		return m, true
	}
	for _, p := range c.passthrough {
		if !strings.HasPrefix(id, p.prefix) || len(id) == len(p.prefix) {
			continue
		}
		// Without a prefix only author/slug ids pass, so a typo of a listed bare alias is a 404
		// rather than a paid call to the wrong place.
		if p.prefix == "" && !strings.Contains(id, "/") {
			continue
		}
		return &Model{ID: id, Name: id, Endpoints: []Endpoint{{Provider: p.provider, UpstreamID: id[len(p.prefix):]}}}, true
	}
	return nil, false
}

// Models returns every listed model in catalog order.
func (c *Catalog) Models() []*Model { return c.models }

// ModelsJSON is the /models document, built once per catalog.
func (c *Catalog) ModelsJSON() []byte { return c.modelsJSON }

type modelDoc struct {
	ID                  string            `json:"id"`
	CanonicalSlug       string            `json:"canonical_slug"`
	Object              string            `json:"object"`
	OwnedBy             string            `json:"owned_by"`
	Name                string            `json:"name"`
	Created             int64             `json:"created"`
	Description         string            `json:"description"`
	ContextLength       *int              `json:"context_length"`
	Architecture        architecture      `json:"architecture"`
	Pricing             map[string]string `json:"pricing"`
	TopProvider         topProvider       `json:"top_provider"`
	PerRequestLimits    *struct{}         `json:"per_request_limits"`
	SupportedParameters []string          `json:"supported_parameters"`
}

type architecture struct {
	Modality         string   `json:"modality"`
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
	Tokenizer        string   `json:"tokenizer"`
	InstructType     *string  `json:"instruct_type"`
}

type topProvider struct {
	ContextLength       *int `json:"context_length"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	IsModerated         bool `json:"is_moderated"`
}

func nonZero(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

// buildModelsJSON renders OpenRouter's model schema, plus the object/owned_by fields the
// OpenAI SDKs read, so both kinds of client list models without surprises.
func (c *Catalog) buildModelsJSON() ([]byte, error) {
	docs := make([]modelDoc, 0, len(c.models))
	for _, m := range c.models {
		in := m.InputModalities
		if len(in) == 0 {
			in = []string{"text"}
		}
		params := m.SupportedParameters
		if params == nil {
			params = []string{}
		}
		author, _, _ := strings.Cut(m.ID, "/")
		pricing := map[string]string{
			"prompt":     PriceString(m.Pricing.Prompt),
			"completion": PriceString(m.Pricing.Completion),
			"request":    PriceString(m.Pricing.Request),
			"image":      "0",
		}
		if m.Pricing.InputCacheRead > 0 {
			pricing["input_cache_read"] = PriceString(m.Pricing.InputCacheRead)
		}
		if m.Pricing.InputCacheWrite > 0 {
			pricing["input_cache_write"] = PriceString(m.Pricing.InputCacheWrite)
		}
		docs = append(docs, modelDoc{
			ID: m.ID, CanonicalSlug: m.ID, Object: "model", OwnedBy: author, Name: m.Name, Created: m.Created,
			Description: m.Description, ContextLength: nonZero(m.ContextLength),
			Architecture: architecture{
				Modality: strings.Join(in, "+") + "->text", InputModalities: in,
				OutputModalities: []string{"text"}, Tokenizer: "Other",
			},
			Pricing:             pricing,
			TopProvider:         topProvider{ContextLength: nonZero(m.ContextLength), MaxCompletionTokens: nonZero(m.MaxCompletionTokens)},
			SupportedParameters: params,
		})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "text->text" must read as such, not as "text-\u003etext"
	if err := enc.Encode(struct {
		Object string     `json:"object"`
		Data   []modelDoc `json:"data"`
	}{"list", docs}); err != nil {
		return nil, fmt.Errorf("catalog: encode models: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
