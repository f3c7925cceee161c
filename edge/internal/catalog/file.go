package catalog

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
)

// defaultCatalog is the catalog built into the binary: the providers and models a node
// knows without configuration. config's catalog_file replaces it.
//
//go:embed default.yaml
var defaultCatalog []byte

// Default returns the embedded catalog file, for tools and tests that want to read it.
func Default() []byte { return bytes.Clone(defaultCatalog) }

// fileDoc is the schema of a catalog file. Prices are per million tokens, the unit of the
// providers' pricing pages, so the file can be checked against them by eye.
type fileDoc struct {
	// Updated is the date the prices and models were last checked (YYYY-MM-DD).
	Updated   string         `yaml:"updated"`
	Providers []fileProvider `yaml:"providers"`
	Models    []fileModel    `yaml:"models"`
}

type fileProvider struct {
	Slug   string `yaml:"slug"`
	Name   string `yaml:"name"`
	Format string `yaml:"format"`
	// BaseURL is the API root; BaseURLEnv names a variable that overrides it (the way the
	// provider's SDK reads OPENAI_BASE_URL), APIKeyEnv the variable holding the key whose
	// presence activates the provider.
	BaseURL     string            `yaml:"base_url"`
	BaseURLEnv  string            `yaml:"base_url_env"`
	APIKeyEnv   string            `yaml:"api_key_env"`
	Headers     map[string]string `yaml:"headers"`
	Passthrough string            `yaml:"passthrough"`
	DataPolicy  config.DataPolicy `yaml:"data_policy"`
	Region      string            `yaml:"region"`
	// ServesCatalog: see Provider.ServesCatalog.
	ServesCatalog bool `yaml:"serves_catalog"`
	// Pricing is the page the provider's prices in this file were taken from.
	Pricing string `yaml:"pricing"`
}

type fileModel struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Aliases     []string `yaml:"aliases"`
	// Created is the model's release date (YYYY-MM-DD); "" takes Options.Created.
	Created             string         `yaml:"created"`
	ContextLength       int            `yaml:"context_length"`
	MaxCompletionTokens int            `yaml:"max_completion_tokens"`
	InputModalities     []string       `yaml:"input_modalities"`
	OutputModalities    []string       `yaml:"output_modalities"`
	Tokenizer           string         `yaml:"tokenizer"`
	SupportedParameters []string       `yaml:"supported_parameters"`
	Endpoints           []fileEndpoint `yaml:"endpoints"`
}

type fileEndpoint struct {
	Provider   string          `yaml:"provider"`
	Tag        string          `yaml:"tag"`
	UpstreamID string          `yaml:"upstream_id"`
	Pricing    *config.Pricing `yaml:"pricing"`
	// ContextLength and MaxCompletionTokens default to the model's.
	ContextLength       int    `yaml:"context_length"`
	MaxCompletionTokens int    `yaml:"max_completion_tokens"`
	Quantization        string `yaml:"quantization"`
	// SupportedParameters replaces the model's list for this endpoint.
	SupportedParameters []string `yaml:"supported_parameters"`
	Region              string   `yaml:"region"`
	Tags                []string `yaml:"tags"`
}

// loadDoc picks the catalog file (opts.Defaults, else cfg.CatalogFile, else the embedded
// one) and parses it.
func loadDoc(cfg *config.Config, opts Options) (*fileDoc, error) {
	data, src := opts.Defaults, "defaults"
	if data == nil {
		if cfg.CatalogFile != "" {
			b, err := os.ReadFile(cfg.CatalogFile)
			if err != nil {
				return nil, fmt.Errorf("catalog: read catalog_file: %w", err)
			}
			data, src = b, cfg.CatalogFile
		} else {
			data, src = defaultCatalog, "embedded catalog"
		}
	}
	doc, err := parseDoc(data)
	if err != nil {
		return nil, fmt.Errorf("catalog: load %s: %w", src, err)
	}
	return doc, nil
}

// parseDoc decodes a catalog file strictly (an unknown field is a typo that would silently
// drop a price) and checks it is coherent.
func parseDoc(data []byte) (*fileDoc, error) {
	doc := &fileDoc{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := doc.validate(); err != nil {
		return nil, err
	}
	return doc, nil
}

func (d *fileDoc) validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.Updated != "" {
		if _, err := time.Parse(time.DateOnly, d.Updated); err != nil {
			bad("updated: want a date such as 2026-11-01, got %q", d.Updated)
		}
	}
	providers := map[string]bool{}
	for i, p := range d.Providers {
		f := fmt.Sprintf("providers[%d] (%s)", i, p.Slug)
		switch {
		case p.Slug == "" || strings.ContainsAny(p.Slug, "/ \t") || strings.ToLower(p.Slug) != p.Slug:
			bad("%s: slug must be a non-empty lowercase name without '/'", f)
		case p.Slug == "sim":
			bad("%s: slug \"sim\" is reserved for the built-in simulated provider", f)
		case providers[p.Slug]:
			bad("%s: declared twice", f)
		}
		providers[p.Slug] = true
		if msg := config.CheckBaseURL(p.BaseURL); msg != "" {
			bad("%s: base_url: %s", f, msg)
		}
		// Formats are plugin names the catalog cannot list, so only their shape is checked.
		if p.Format != "" && (strings.ToLower(p.Format) != p.Format || strings.ContainsAny(p.Format, "/ \t")) {
			bad("%s: format: want a lowercase name such as \"openai\", got %q", f, p.Format)
		}
		if pt := p.Passthrough; pt != "" && pt != "*" && !strings.HasSuffix(pt, "/") {
			bad("%s: passthrough: want \"*\" or a prefix ending in '/', got %q", f, pt)
		}
	}
	names := map[string]string{}
	for i, m := range d.Models {
		f := fmt.Sprintf("models[%d] (%s)", i, m.ID)
		if m.ID == "" || strings.ContainsAny(m.ID, " \t\r\n") {
			bad("%s: id must be non-empty, without whitespace", f)
		}
		if strings.HasPrefix(m.ID, "sim/") {
			bad("%s: ids under sim/ are reserved for the simulated provider", f)
		}
		for _, n := range append([]string{m.ID}, m.Aliases...) {
			if prev, ok := names[n]; ok {
				bad("%s: %q already names model %q", f, n, prev)
			}
			names[n] = m.ID
		}
		if m.Created != "" {
			if _, err := time.Parse(time.DateOnly, m.Created); err != nil {
				bad("%s: created: want a date such as 2025-04-14, got %q", f, m.Created)
			}
		}
		if m.ContextLength < 0 || m.MaxCompletionTokens < 0 {
			bad("%s: context_length and max_completion_tokens must not be negative", f)
		}
		if len(m.Endpoints) == 0 {
			bad("%s: list at least one endpoint", f)
		}
		tags := map[string]bool{}
		for j, e := range m.Endpoints {
			ef := fmt.Sprintf("%s: endpoints[%d]", f, j)
			if !providers[e.Provider] {
				bad("%s: provider %q is not declared under providers", ef, e.Provider)
			}
			if tag := endpointTag(e.Provider, e.Tag); tags[tag] {
				bad("%s: %s serves the model twice; give one a tag", ef, tag)
			} else {
				tags[tag] = true
			}
			if e.Tag != "" && strings.ContainsAny(e.Tag, "/ \t") {
				bad("%s: tag %q must not contain '/' or spaces", ef, e.Tag)
			}
			if pr := e.Pricing; pr != nil && (pr.Prompt < 0 || pr.Completion < 0 || pr.Request < 0 || pr.InputCacheRead < 0 || pr.InputCacheWrite < 0) {
				bad("%s: prices must not be negative", ef)
			}
			if e.Quantization != "" && !config.ValidQuantization(e.Quantization) {
				bad("%s: quantization: want one of %s, got %q", ef, strings.Join(config.Quantizations, ", "), e.Quantization)
			}
			if e.ContextLength < 0 || e.MaxCompletionTokens < 0 {
				bad("%s: context_length and max_completion_tokens must not be negative", ef)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// endpointTag is the routing tag of a provider's endpoint: the slug, or slug/variant.
func endpointTag(slug, variant string) string {
	if variant == "" {
		return slug
	}
	return slug + "/" + variant
}

// pricingOf converts a per-million price to the per-token Pricing of the catalog.
func pricingOf(p *config.Pricing) Pricing {
	if p == nil {
		return Pricing{}
	}
	return Pricing{
		Prompt: perToken(p.Prompt), Completion: perToken(p.Completion), Request: p.Request,
		InputCacheRead: perToken(p.InputCacheRead), InputCacheWrite: perToken(p.InputCacheWrite),
	}
}
