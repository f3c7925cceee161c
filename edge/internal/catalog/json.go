package catalog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

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

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func archOf(m *Model) architecture {
	tok := m.Tokenizer
	if tok == "" {
		tok = "Other"
	}
	return architecture{
		Modality:        strings.Join(m.InputModalities, "+") + "->" + strings.Join(m.OutputModalities, "+"),
		InputModalities: orEmpty(m.InputModalities), OutputModalities: orEmpty(m.OutputModalities), Tokenizer: tok,
	}
}

// pricingDoc renders a Pricing as OpenRouter does: USD per token as decimal strings.
func pricingDoc(p Pricing) map[string]string {
	doc := map[string]string{
		"prompt":     PriceString(p.Prompt),
		"completion": PriceString(p.Completion),
		"request":    PriceString(p.Request),
		"image":      "0",
	}
	if p.InputCacheRead > 0 {
		doc["input_cache_read"] = PriceString(p.InputCacheRead)
	}
	if p.InputCacheWrite > 0 {
		doc["input_cache_write"] = PriceString(p.InputCacheWrite)
	}
	return doc
}

// encode marshals without HTML escaping: "text->text" must read as such, not as
// "text-\u003etext".
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// buildModelsJSON renders OpenRouter's model schema, plus the object/owned_by fields the
// OpenAI SDKs read, so both kinds of client list models without surprises. Each item is
// kept apart so a filtered list is a join of items, not a re-encoding.
func (c *Catalog) buildModelsJSON() error {
	c.docs = make([][]byte, len(c.models))
	for i, m := range c.models {
		author, _, _ := strings.Cut(m.ID, "/")
		b, err := encode(modelDoc{
			ID: m.ID, CanonicalSlug: m.ID, Object: "model", OwnedBy: author, Name: m.Name, Created: m.Created,
			Description: m.Description, ContextLength: nonZero(m.ContextLength), Architecture: archOf(m),
			Pricing:             pricingDoc(m.Pricing),
			TopProvider:         topProvider{ContextLength: nonZero(m.ContextLength), MaxCompletionTokens: nonZero(m.MaxCompletionTokens)},
			SupportedParameters: orEmpty(m.SupportedParameters),
		})
		if err != nil {
			return fmt.Errorf("catalog: encode model %s: %w", m.ID, err)
		}
		c.docs[i] = b
	}
	c.modelsJSON = c.listJSON(nil)
	return nil
}

// listJSON joins the items at idx (every model when idx is nil) into a list document.
func (c *Catalog) listJSON(idx []int) []byte {
	if idx == nil {
		idx = make([]int, len(c.docs))
		for i := range idx {
			idx[i] = i
		}
	}
	n := 32
	for _, i := range idx {
		n += len(c.docs[i]) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"object":"list","data":[`...)
	for k, i := range idx {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, c.docs[i]...)
	}
	return append(b, "]}"...)
}

var (
	inputModalities  = []string{"text", "image", "file", "audio", "video"}
	outputModalities = []string{"text", "image", "embeddings", "audio", "video", "rerank", "speech", "transcription"}
	sorts            = []string{"pricing-low-to-high", "pricing-high-to-low", "context-high-to-low", "newest"}
)

// FilterError is an invalid /models query parameter; the HTTP layer answers 400 with it.
type FilterError struct {
	Param, Msg string
}

func (e *FilterError) Error() string { return "catalog: filter models: " + e.Param + ": " + e.Msg }

// modelFilter is a parsed /models query.
type modelFilter struct {
	params           []string
	inputs, outputs  []string
	providers        []string
	q                string
	maxPrice         float64
	hasMaxPrice      bool
	authors          []string
	sort             string
	anyOutput        bool
	hasOutputsFilter bool
}

// list splits the comma-separated values of a parameter (repeated parameters add up).
func list(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func parseFilter(q url.Values) (*modelFilter, error) {
	f := &modelFilter{}
	f.params = list(q, "supported_parameters")
	for _, p := range f.params {
		if !knownParam(p) {
			return nil, &FilterError{"supported_parameters", fmt.Sprintf("unknown parameter %q", p)}
		}
	}
	f.inputs = list(q, "input_modalities")
	for _, m := range f.inputs {
		if !slices.Contains(inputModalities, m) {
			return nil, &FilterError{"input_modalities", fmt.Sprintf("want some of %s, got %q", strings.Join(inputModalities, ", "), m)}
		}
	}
	f.outputs = list(q, "output_modalities")
	for _, m := range f.outputs {
		if m == "all" {
			f.anyOutput = true
			continue
		}
		if !slices.Contains(outputModalities, m) {
			return nil, &FilterError{"output_modalities", fmt.Sprintf("want \"all\" or some of %s, got %q", strings.Join(outputModalities, ", "), m)}
		}
	}
	f.hasOutputsFilter = len(f.outputs) > 0 && !f.anyOutput
	f.providers = list(q, "providers")
	f.authors = list(q, "model_authors")
	f.q = strings.ToLower(strings.TrimSpace(q.Get("q")))
	if v := strings.TrimSpace(q.Get("max_price")); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || math.IsNaN(p) || math.IsInf(p, 0) {
			return nil, &FilterError{"max_price", fmt.Sprintf("want a non-negative price in USD per million prompt tokens, got %q", v)}
		}
		f.maxPrice, f.hasMaxPrice = perToken(p), true
	}
	if f.sort = strings.TrimSpace(q.Get("sort")); f.sort != "" && !slices.Contains(sorts, f.sort) {
		return nil, &FilterError{"sort", fmt.Sprintf("want one of %s, got %q", strings.Join(sorts, ", "), f.sort)}
	}
	return f, nil
}

func (f *modelFilter) match(m *Model) bool {
	for _, p := range f.params {
		if !slices.Contains(m.SupportedParameters, p) {
			return false
		}
	}
	if len(f.inputs) > 0 && !slices.ContainsFunc(f.inputs, func(s string) bool { return slices.Contains(m.InputModalities, s) }) {
		return false
	}
	if f.hasOutputsFilter && !slices.ContainsFunc(f.outputs, func(s string) bool { return slices.Contains(m.OutputModalities, s) }) {
		return false
	}
	if len(f.providers) > 0 && !slices.ContainsFunc(m.Endpoints, func(e *Endpoint) bool {
		return slices.ContainsFunc(f.providers, func(p string) bool { return strings.EqualFold(p, e.Provider) || strings.EqualFold(p, e.Tag) })
	}) {
		return false
	}
	if f.q != "" && !strings.Contains(strings.ToLower(m.ID), f.q) && !strings.Contains(strings.ToLower(m.Name), f.q) {
		return false
	}
	if f.hasMaxPrice && m.Pricing.Prompt > f.maxPrice {
		return false
	}
	if len(f.authors) > 0 {
		author, _, _ := strings.Cut(m.ID, "/")
		if !slices.ContainsFunc(f.authors, func(a string) bool { return strings.EqualFold(a, author) }) {
			return false
		}
	}
	return true
}

// ModelsJSONFiltered is the /models document narrowed by OpenRouter's query parameters:
// supported_parameters (comma-separated, all required), input_modalities and
// output_modalities (comma-separated, any; output "all" matches every model), providers
// (comma-separated slugs or tags, any endpoint), q (substring of id or name, any case),
// max_price (USD per million prompt tokens), model_authors (comma-separated), and sort
// (pricing-low-to-high, pricing-high-to-low, context-high-to-low, newest). Other parameters
// are ignored. An invalid value is a *FilterError naming the parameter.
func (c *Catalog) ModelsJSONFiltered(q url.Values) ([]byte, error) {
	f, err := parseFilter(q)
	if err != nil {
		return nil, err
	}
	idx := make([]int, 0, len(c.models))
	for i, m := range c.models {
		if f.match(m) {
			idx = append(idx, i)
		}
	}
	// Ties keep catalog order, so the same query always lists the same way.
	var order func(a, b *Model) int
	switch f.sort {
	case "pricing-low-to-high":
		order = func(a, b *Model) int { return cmp.Compare(a.Pricing.Blended(), b.Pricing.Blended()) }
	case "pricing-high-to-low":
		order = func(a, b *Model) int { return cmp.Compare(b.Pricing.Blended(), a.Pricing.Blended()) }
	case "context-high-to-low":
		order = func(a, b *Model) int { return b.ContextLength - a.ContextLength }
	case "newest":
		order = func(a, b *Model) int { return cmp.Compare(b.Created, a.Created) }
	}
	if order != nil {
		slices.SortStableFunc(idx, func(a, b int) int { return order(c.models[a], c.models[b]) })
	}
	return c.listJSON(idx), nil
}

func knownParam(name string) bool {
	_, ok := llm.ParamByName(name)
	return ok
}

// Percentiles of a live statistic: latency in milliseconds, throughput in tokens per second.
type Percentiles struct{ P50, P75, P90, P99 float64 }

// Live is what the router knows of an endpoint now, for the endpoints document.
//
// Status follows OpenRouter's endpoint status integers: 0 serving normally, -1 degraded
// (failing often enough to be tried after the healthy endpoints), -2 circuit open (not
// tried until its cooldown ends). Circuit is the breaker's state: "closed", "open" or
// "half_open" (one probe request allowed through).
type Live struct {
	Status              int
	Circuit             string
	Uptime5m, Uptime30m *float64
	Latency, Throughput *Percentiles
}

type endpointsDoc struct {
	Data endpointsData `json:"data"`
}

type endpointsData struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Created      int64         `json:"created"`
	Description  string        `json:"description"`
	Architecture architecture  `json:"architecture"`
	Endpoints    []endpointDoc `json:"endpoints"`
}

type percentilesDoc struct {
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

type endpointDoc struct {
	Name                    string            `json:"name"`
	ModelID                 string            `json:"model_id"`
	ModelName               string            `json:"model_name"`
	ContextLength           *int              `json:"context_length"`
	MaxPromptTokens         *int              `json:"max_prompt_tokens"`
	MaxCompletionTokens     *int              `json:"max_completion_tokens"`
	Pricing                 map[string]string `json:"pricing"`
	ProviderName            string            `json:"provider_name"`
	Tag                     string            `json:"tag"`
	Quantization            *string           `json:"quantization"`
	Status                  int               `json:"status"`
	SupportedParameters     []string          `json:"supported_parameters"`
	SupportsImplicitCaching bool              `json:"supports_implicit_caching"`
	UptimeLast5m            *float64          `json:"uptime_last_5m"`
	UptimeLast30m           *float64          `json:"uptime_last_30m"`
	UptimeLast1d            *float64          `json:"uptime_last_1d"`
	LatencyLast30m          *percentilesDoc   `json:"latency_last_30m"`
	ThroughputLast30m       *percentilesDoc   `json:"throughput_last_30m"`
	// Ours, beyond OpenRouter's schema.
	Circuit    string     `json:"circuit"`
	Region     *string    `json:"region"`
	DataPolicy dataPolicy `json:"data_policy"`
}

type dataPolicy struct {
	Retains bool `json:"retains"`
	Trains  bool `json:"trains"`
}

// finite keeps a NaN or infinite statistic (a division by zero upstream of us) from
// failing the whole document: JSON has no such numbers.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func percentilesOf(p *Percentiles) *percentilesDoc {
	if p == nil {
		return nil
	}
	return &percentilesDoc{P50: finite(p.P50), P75: finite(p.P75), P90: finite(p.P90), P99: finite(p.P99)}
}

func finitePtr(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// EndpointsJSON is OpenRouter's GET /models/{author}/{slug}/endpoints document for a
// listed model (by id or alias), with live state from live (nil: none known, every endpoint
// closed and ok). It is built per call: it carries live state, and it is not on the hot
// path. Unlisted ids, passthrough ones included, report false.
func (c *Catalog) EndpointsJSON(id string, live func(*Endpoint) Live) ([]byte, bool) {
	m, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	data := endpointsData{
		ID: m.ID, Name: m.Name, Created: m.Created, Description: m.Description, Architecture: archOf(m),
		Endpoints: make([]endpointDoc, 0, len(m.Endpoints)),
	}
	for _, ep := range m.Endpoints {
		l := Live{Circuit: "closed"}
		if live != nil {
			l = live(ep)
			if l.Circuit == "" {
				l.Circuit = "closed"
			}
		}
		data.Endpoints = append(data.Endpoints, endpointDoc{
			Name: ep.ProviderName + " | " + m.ID, ModelID: m.ID, ModelName: m.Name,
			ContextLength: nonZero(ep.ContextLength), MaxCompletionTokens: nonZero(ep.MaxCompletionTokens),
			Pricing: pricingDoc(ep.Pricing), ProviderName: ep.ProviderName, Tag: ep.Tag,
			Quantization: nonEmpty(ep.Quantization), Status: l.Status,
			SupportedParameters: orEmpty(ep.SupportedParameters),
			// A provider that bills cached input at a discount caches on its own.
			SupportsImplicitCaching: ep.Pricing.InputCacheRead > 0,
			UptimeLast5m:            finitePtr(l.Uptime5m), UptimeLast30m: finitePtr(l.Uptime30m),
			LatencyLast30m: percentilesOf(l.Latency), ThroughputLast30m: percentilesOf(l.Throughput),
			Circuit: l.Circuit, Region: nonEmpty(ep.Region), DataPolicy: dataPolicy{ep.Retains, ep.Trains},
		})
	}
	b, err := encode(endpointsDoc{data})
	if err != nil {
		// Every value is a string, a finite number or a bool: encoding cannot fail.
		panic(fmt.Sprintf("catalog: encode endpoints of %s: %v", m.ID, err))
	}
	return b, true
}
