// Package catalog owns what the node can serve: the providers that are active, the models,
// the provider endpoints behind each model with their prices, limits and capabilities, and
// the documents built from them (/models, /models/{id}/endpoints).
//
// Its source is a catalog file (the one embedded in the binary, default.yaml, or the
// configuration's catalog_file) merged with the configuration: a catalog provider is
// active when the configuration declares it or its API key variable is set, and only
// models with an endpoint on an active provider are served.
//
// A Catalog is immutable once built; a configuration reload builds a new one. Lookups on
// the request path are one map read.
package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Options are the inputs of Build besides the configuration.
type Options struct {
	// Extra are models of built-in providers (the simulator), endpoints filled in. Build
	// copies them: the caller may reuse them for the next generation while this one serves.
	Extra []*Model
	// ExtraProviders are the providers of Extra's endpoints, always active.
	ExtraProviders []*Provider
	// Created stamps models without a date (zero: now).
	Created time.Time
	// Defaults is a catalog file; nil reads cfg.CatalogFile if set, else the embedded one.
	Defaults []byte
}

// passthrough is a provider that serves model ids it does not list.
type passthrough struct {
	prefix string // "" serves every author/slug id
	ep     *Endpoint
}

// Catalog is an immutable set of providers, models and endpoints.
type Catalog struct {
	updated     string
	models      []*Model
	byID        map[string]*Model
	endpoints   []*Endpoint
	providers   []*Provider
	bySlug      map[string]*Provider
	passthrough []passthrough
	// docs are the /models items, one per model in order, so filtered lists are joins.
	docs       [][]byte
	modelsJSON []byte
}

// Build makes a catalog from a catalog file and the configuration.
func Build(cfg *config.Config, opts Options) (*Catalog, error) {
	doc, err := loadDoc(cfg, opts)
	if err != nil {
		return nil, err
	}
	c := &Catalog{updated: doc.Updated, byID: map[string]*Model{}, bySlug: map[string]*Provider{}}
	if err := c.activate(cfg, doc, opts.ExtraProviders); err != nil {
		return nil, err
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	b := &builder{c: c, cfg: cfg, created: created, byID: map[string]*draft{}}
	if err := b.addExtra(opts.Extra); err != nil {
		return nil, err
	}
	if err := b.addCatalog(doc); err != nil {
		return nil, err
	}
	if err := b.addConfig(); err != nil {
		return nil, err
	}
	b.addServesCatalog()
	if err := b.finish(); err != nil {
		return nil, err
	}
	c.addPassthrough()
	if err := c.buildModelsJSON(); err != nil {
		return nil, err
	}
	return c, nil
}

// activate decides the active providers: every configured one (over the catalog provider
// of its name), every catalog provider whose key is in the environment, and the extras.
func (c *Catalog) activate(cfg *config.Config, doc *fileDoc, extra []*Provider) error {
	declared := map[string]*config.Provider{}
	for i := range cfg.Providers {
		declared[cfg.Providers[i].Name] = &cfg.Providers[i]
	}
	known := map[string]bool{}
	env := func(name string) string {
		if name == "" {
			return ""
		}
		v, _ := cfg.LookupEnv(name)
		return v
	}
	var active []*Provider
	for _, fp := range doc.Providers {
		known[fp.Slug] = true
		cp := declared[fp.Slug]
		key := env(fp.APIKeyEnv)
		if cp == nil && key == "" {
			continue // no key, no entry: its endpoints stay out
		}
		p := &Provider{
			Slug: fp.Slug, Name: fp.Name, Format: fp.Format, BaseURL: fp.BaseURL, APIKey: key,
			Headers: maps.Clone(fp.Headers), Retains: fp.DataPolicy.Retains, Trains: fp.DataPolicy.Trains,
			Region: fp.Region, Passthrough: fp.Passthrough, ServesCatalog: fp.ServesCatalog,
		}
		if u := env(fp.BaseURLEnv); u != "" {
			if msg := config.CheckBaseURL(u); msg != "" {
				return fmt.Errorf("catalog: provider %s: %s: %s", fp.Slug, fp.BaseURLEnv, msg)
			}
			p.BaseURL = u
		}
		if cp != nil {
			overlay(p, cp)
		}
		active = append(active, p)
	}
	for i := range cfg.Providers {
		cp := &cfg.Providers[i]
		if known[cp.Name] {
			continue
		}
		serves := cp.ServesCatalog != nil && *cp.ServesCatalog
		if cp.BaseURL == "" || (len(cp.Models) == 0 && cp.Passthrough == "" && !serves) {
			return fmt.Errorf("catalog: provider %s: not in the catalog: set base_url and models or passthrough", cp.Name)
		}
		p := &Provider{Slug: cp.Name}
		overlay(p, cp)
		active = append(active, p)
	}
	for _, ep := range extra {
		p := *ep
		p.Headers = maps.Clone(ep.Headers)
		active = append(active, &p)
	}
	for _, p := range active {
		if _, dup := c.bySlug[p.Slug]; dup {
			return fmt.Errorf("catalog: activate provider %s: declared twice", p.Slug)
		}
		if p.Name == "" {
			p.Name = p.Slug
		}
		if p.Format == "" {
			p.Format = "openai"
		}
		if p.Timeout == 0 {
			p.Timeout = config.DefaultTimeout.D()
		}
		if p.ConnectTimeout == 0 {
			p.ConnectTimeout = config.DefaultConnectTimeout.D()
		}
		c.bySlug[p.Slug] = p
		c.providers = append(c.providers, p)
	}
	slices.SortFunc(c.providers, func(a, b *Provider) int { return strings.Compare(a.Slug, b.Slug) })
	return nil
}

// overlay writes what the configuration sets over a provider: a configured field wins,
// an unset one keeps the catalog's.
func overlay(p *Provider, cp *config.Provider) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&p.Name, cp.DisplayName)
	set(&p.Format, cp.Format)
	set(&p.BaseURL, cp.BaseURL)
	set(&p.APIKey, cp.APIKey)
	set(&p.Region, cp.Region)
	set(&p.Passthrough, cp.Passthrough)
	if len(cp.Headers) > 0 {
		if p.Headers == nil {
			p.Headers = map[string]string{}
		}
		maps.Copy(p.Headers, cp.Headers)
	}
	if cp.Timeout != 0 {
		p.Timeout = cp.Timeout.D()
	}
	if cp.ConnectTimeout != 0 {
		p.ConnectTimeout = cp.ConnectTimeout.D()
	}
	if cp.FirstByteTimeout != 0 {
		p.FirstByteTimeout = cp.FirstByteTimeout.D()
	}
	if cp.DataPolicy != nil {
		p.Retains, p.Trains = cp.DataPolicy.Retains, cp.DataPolicy.Trains
	}
	if cp.ServesCatalog != nil {
		p.ServesCatalog = *cp.ServesCatalog
	}
}

// draft is a model being assembled, with the model-level values its endpoints inherit.
type draft struct {
	m       *Model
	file    *fileModel // nil for models the catalog file does not list
	extra   bool       // a built-in provider's model: complete, not merged with anything
	aliases []string
	// ctx, maxOut and params are what an endpoint that declares none inherits.
	ctx, maxOut int
	params      []string
	// list is the model's list price, its cheapest endpoint in the file, active or not:
	// what an aggregator that serves the catalog is assumed to charge.
	list Pricing
}

type builder struct {
	c       *Catalog
	cfg     *config.Config
	created time.Time
	drafts  []*draft
	byID    map[string]*draft
}

func (b *builder) add(d *draft) {
	b.drafts = append(b.drafts, d)
	b.byID[d.m.ID] = d
}

// addExtra copies the built-in providers' models, so assigning IDs and back-pointers never
// writes to models a previous catalog generation is still serving.
func (b *builder) addExtra(extra []*Model) error {
	for _, em := range extra {
		if _, dup := b.byID[em.ID]; dup {
			return fmt.Errorf("catalog: add extra model %s: listed twice", em.ID)
		}
		m := *em
		m.Endpoints = make([]*Endpoint, len(em.Endpoints))
		for i, e := range em.Endpoints {
			ep := *e
			if b.c.bySlug[ep.Provider] == nil {
				return fmt.Errorf("catalog: add extra model %s: provider %q is not among the extra providers", em.ID, ep.Provider)
			}
			m.Endpoints[i] = &ep
		}
		b.add(&draft{m: &m, extra: true, ctx: m.ContextLength, maxOut: m.MaxCompletionTokens, params: m.SupportedParameters})
	}
	return nil
}

// addCatalog adds the file's models with their endpoints on active providers.
func (b *builder) addCatalog(doc *fileDoc) error {
	for i := range doc.Models {
		fm := &doc.Models[i]
		if _, dup := b.byID[fm.ID]; dup {
			return fmt.Errorf("catalog: add model %s: the id is a built-in model's", fm.ID)
		}
		created := b.created.Unix()
		if t, err := time.Parse(time.DateOnly, fm.Created); err == nil {
			created = t.Unix()
		}
		d := &draft{
			m: &Model{
				ID: fm.ID, Name: fm.Name, Description: fm.Description, Created: created,
				InputModalities: fm.InputModalities, OutputModalities: fm.OutputModalities, Tokenizer: fm.Tokenizer,
			},
			file: fm, aliases: slices.Clone(fm.Aliases), ctx: fm.ContextLength, maxOut: fm.MaxCompletionTokens,
			params: fm.SupportedParameters,
		}
		for j := range fm.Endpoints {
			fe := &fm.Endpoints[j]
			pr := pricingOf(fe.Pricing)
			if j == 0 || pr.Blended() < d.list.Blended() {
				d.list = pr
			}
			if b.c.bySlug[fe.Provider] == nil {
				continue
			}
			d.m.Endpoints = append(d.m.Endpoints, &Endpoint{
				Provider: fe.Provider, Tag: endpointTag(fe.Provider, fe.Tag), UpstreamID: fe.UpstreamID, Pricing: pr,
				ContextLength: fe.ContextLength, MaxCompletionTokens: fe.MaxCompletionTokens,
				SupportedParameters: fe.SupportedParameters, Quantization: fe.Quantization,
				Region: fe.Region, Tags: fe.Tags,
			})
		}
		b.add(d)
	}
	return nil
}

// addConfig adds the configured providers' models: a new endpoint, or the override of the
// catalog's endpoint with the same provider and tag.
func (b *builder) addConfig() error {
	for _, cp := range b.cfg.Providers {
		for _, cm := range cp.Models {
			d := b.byID[cm.ID]
			if d != nil && d.extra {
				return fmt.Errorf("catalog: add model %s of provider %s: the id is a built-in model's", cm.ID, cp.Name)
			}
			if d == nil {
				d = &draft{m: &Model{ID: cm.ID, Created: b.created.Unix()}}
				b.add(d)
			}
			// Model-level values come from the catalog unless the configuration gives them.
			// Limits are the endpoint's own: one provider's max_completion_tokens says
			// nothing of another's, so they never become the model-level default.
			if cm.Name != "" {
				d.m.Name = cm.Name
			}
			if len(cm.InputModalities) > 0 {
				d.m.InputModalities = cm.InputModalities
			}
			for _, a := range cm.Aliases {
				if !slices.Contains(d.aliases, a) {
					d.aliases = append(d.aliases, a)
				}
			}
			tag := endpointTag(cp.Name, cm.Tag)
			var ep *Endpoint
			for _, e := range d.m.Endpoints {
				if e.Provider == cp.Name && e.Tag == tag {
					ep = e
				}
			}
			if ep == nil {
				ep = &Endpoint{Provider: cp.Name, Tag: tag, UpstreamID: cm.ID}
				d.m.Endpoints = append(d.m.Endpoints, ep)
			}
			if cm.UpstreamID != "" {
				ep.UpstreamID = cm.UpstreamID
			}
			if cm.Pricing != nil {
				ep.Pricing = pricingOf(cm.Pricing)
			}
			if cm.ContextLength != 0 {
				ep.ContextLength = cm.ContextLength
			}
			if cm.MaxCompletionTokens != 0 {
				ep.MaxCompletionTokens = cm.MaxCompletionTokens
			}
			if len(cm.SupportedParameters) > 0 {
				ep.SupportedParameters = cm.SupportedParameters
			}
			if cm.Quantization != "" {
				ep.Quantization = cm.Quantization
			}
			if cm.Region != "" {
				ep.Region = cm.Region
			}
			if len(cm.Tags) > 0 {
				ep.Tags = cm.Tags
			}
		}
	}
	return nil
}

// addServesCatalog gives every provider that serves the catalog (an aggregator) an
// endpoint on every catalog model it does not already serve, at the model's list price.
func (b *builder) addServesCatalog() {
	for _, p := range b.c.providers {
		if !p.ServesCatalog {
			continue
		}
		for _, d := range b.drafts {
			if d.file == nil || slices.ContainsFunc(d.m.Endpoints, func(e *Endpoint) bool { return e.Provider == p.Slug }) {
				continue
			}
			d.m.Endpoints = append(d.m.Endpoints, &Endpoint{Provider: p.Slug, Tag: p.Slug, UpstreamID: d.m.ID, Pricing: d.list})
		}
	}
}

// finish drops models without endpoints, fills every endpoint's derived fields, numbers
// the endpoints and indexes ids and aliases.
func (b *builder) finish() error {
	c := b.c
	keys := map[string]bool{}
	for _, d := range b.drafts {
		m := d.m
		if len(m.Endpoints) == 0 {
			continue // no active provider serves it
		}
		if m.Name == "" {
			m.Name = m.ID
		}
		if len(m.InputModalities) == 0 {
			m.InputModalities = []string{"text"}
		}
		if len(m.OutputModalities) == 0 {
			m.OutputModalities = []string{"text"}
		}
		m.Aliases = d.aliases
		m.ContextLength, m.MaxCompletionTokens = 0, 0
		var params []string
		for i, ep := range m.Endpoints {
			p := c.bySlug[ep.Provider]
			ep.ID = len(c.endpoints)
			ep.Model = m
			if ep.Tag == "" {
				ep.Tag = ep.Provider
			}
			ep.Key = m.ID + "@" + ep.Tag
			if keys[ep.Key] {
				return fmt.Errorf("catalog: build endpoint %s: listed twice", ep.Key)
			}
			keys[ep.Key] = true
			ep.ProviderName = p.Name
			ep.Retains, ep.Trains = p.Retains, p.Trains
			if ep.Region == "" {
				ep.Region = p.Region
			}
			if ep.UpstreamID == "" {
				ep.UpstreamID = m.ID
			}
			if ep.ContextLength == 0 {
				ep.ContextLength = d.ctx
			}
			if ep.MaxCompletionTokens == 0 {
				ep.MaxCompletionTokens = d.maxOut
			}
			if len(ep.SupportedParameters) == 0 {
				ep.SupportedParameters = d.params
			}
			ep.Params = paramSet(ep.SupportedParameters)
			m.ContextLength = max(m.ContextLength, ep.ContextLength)
			m.MaxCompletionTokens = max(m.MaxCompletionTokens, ep.MaxCompletionTokens)
			if i == 0 || ep.Pricing.Blended() < m.Pricing.Blended() {
				m.Pricing = ep.Pricing
			}
			for _, n := range ep.SupportedParameters {
				if !slices.Contains(params, n) {
					params = append(params, n)
				}
			}
			c.endpoints = append(c.endpoints, ep)
		}
		m.SupportedParameters = params
		for _, id := range append([]string{m.ID}, m.Aliases...) {
			if prev, ok := c.byID[id]; ok {
				return fmt.Errorf("catalog: add model %s: %q already names model %s", m.ID, id, prev.ID)
			}
			c.byID[id] = m
		}
		m.Index = len(c.models)
		c.models = append(c.models, m)
	}
	return nil
}

// paramSet is the set of the named parameters; none declared means all, because an
// endpoint of unknown abilities is better tried than refused. Names routing does not know
// are ignored: they cannot be asked for.
func paramSet(names []string) llm.ParamSet {
	if len(names) == 0 {
		return llm.AllParams
	}
	s, _ := llm.ParamSetOf(names)
	return s
}

// addPassthrough gives each passthrough provider one endpoint, numbered after the listed
// ones: every id it passes through shares it, and so shares its health.
func (c *Catalog) addPassthrough() {
	for _, p := range c.providers {
		if p.Passthrough == "" {
			continue
		}
		prefix := p.Passthrough
		if prefix == "*" {
			prefix = ""
		}
		ep := &Endpoint{
			ID: len(c.endpoints), Key: "*@" + p.Slug, Provider: p.Slug, ProviderName: p.Name, Tag: p.Slug,
			Params: llm.AllParams, Retains: p.Retains, Trains: p.Trains, Region: p.Region, Passthrough: true,
		}
		c.endpoints = append(c.endpoints, ep)
		c.passthrough = append(c.passthrough, passthrough{prefix: prefix, ep: ep})
	}
	// Prefix passthroughs are more specific than "*", so they are tried first.
	slices.SortStableFunc(c.passthrough, func(a, b passthrough) int { return len(b.prefix) - len(a.prefix) })
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
// that passes unlisted ids through. A passthrough model is built per call (it is small, and
// rare compared with listed models); its one endpoint is a copy of the provider's shared
// passthrough endpoint, with the same ID so health is kept per provider.
func (c *Catalog) Resolve(id string) (*Model, bool) {
	if m, ok := c.byID[id]; ok {
		return m, true
	}
	if p := c.passFor(id); p != nil {
		return passModel(id, p.ep, id[len(p.prefix):]), true
	}
	return nil, false
}

// passFor is the passthrough provider that serves an unlisted id, or nil.
func (c *Catalog) passFor(id string) *passthrough {
	for i := range c.passthrough {
		p := &c.passthrough[i]
		if !strings.HasPrefix(id, p.prefix) || len(id) == len(p.prefix) {
			continue
		}
		// Without a prefix only author/slug ids pass, so a typo of a listed bare alias is a 404
		// rather than a paid call to the wrong place.
		if p.prefix == "" && !strings.Contains(id, "/") {
			continue
		}
		return p
	}
	return nil
}

func passModel(id string, shared *Endpoint, upstream string) *Model {
	m := &Model{ID: id, Name: id, Index: -1, InputModalities: []string{"text"}, OutputModalities: []string{"text"}}
	ep := *shared
	ep.UpstreamID = upstream
	ep.Model = m
	m.Endpoints = []*Endpoint{&ep}
	return m
}

// ResolveVariant resolves an id that may end in an OpenRouter variant suffix (":nitro",
// ":floor", ...). An id listed as such, suffix and all, is that model with no variant;
// otherwise a suffix whose base is listed returns the base and the variant (without the
// colon). Passthrough ids follow Resolve, except that a prefix passthrough (a provider's
// native API) gets the base id: only an aggregator passed everything ("*") knows the
// variants, and there ":free" names a different model, so the suffix must reach it.
func (c *Catalog) ResolveVariant(id string) (m *Model, variant string, ok bool) {
	if m, ok := c.byID[id]; ok {
		return m, "", true
	}
	if base, v, found := cutVariant(id); found {
		if m, ok := c.byID[base]; ok {
			return m, v, true
		}
		if p := c.passFor(id); p != nil && p.prefix != "" && c.passFor(base) == p {
			return passModel(base, p.ep, base[len(p.prefix):]), v, true
		}
	}
	m, ok = c.Resolve(id)
	return m, "", ok
}

// cutVariant splits "author/slug:variant" into its base and variant.
func cutVariant(id string) (base, variant string, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 || strings.Contains(id[i+1:], "/") {
		return id, "", false
	}
	return id[:i], id[i+1:], true
}

// Models returns every served model in catalog order.
func (c *Catalog) Models() []*Model { return c.models }

// Endpoints returns every endpoint, indexed by Endpoint.ID: the listed models' endpoints,
// then one per passthrough provider.
func (c *Catalog) Endpoints() []*Endpoint { return c.endpoints }

// Providers returns the active providers sorted by slug.
func (c *Catalog) Providers() []*Provider { return c.providers }

// Provider returns the active provider with the slug, or nil.
func (c *Catalog) Provider(slug string) *Provider { return c.bySlug[slug] }

// Updated is the date of the catalog file ("2026-11-01"), "" when it has none.
func (c *Catalog) Updated() string { return c.updated }
