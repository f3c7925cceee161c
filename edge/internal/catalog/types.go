package catalog

import (
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Pricing is in USD per token (Request: per request), the unit of OpenRouter's schema.
type Pricing struct {
	Prompt, Completion, Request, InputCacheRead, InputCacheWrite float64
}

// Blended is the price routing sorts by: prompt and completion weighted 3:1, the usual
// shape of chat traffic (inputs are longer than outputs), plus nothing for the request fee,
// which is rare and small.
func (p Pricing) Blended() float64 { return (3*p.Prompt + p.Completion) / 4 }

// Provider is an upstream the node can send to: declared in the configuration, or a
// catalog provider whose API key is in the environment.
type Provider struct {
	// Slug is the provider's routing name ("deepinfra"); endpoints name it.
	Slug string
	// Name is the display name responses show as `provider` ("DeepInfra").
	Name string
	// Format is the wire format of its API: "openai" (the only one built in; the plugin
	// issue adds others).
	Format  string
	BaseURL string
	APIKey  string
	Headers map[string]string
	// Timeout bounds one call from send to last byte; ConnectTimeout the dial and TLS
	// handshake; FirstByteTimeout one attempt's wait for its first byte (0: the router's).
	Timeout, ConnectTimeout, FirstByteTimeout time.Duration
	// Retains and Trains say whether the provider keeps prompts or trains on them;
	// provider.data_collection "deny" leaves out providers with either.
	Retains, Trains bool
	// Region is where the provider serves from ("us", "eu"), "" when unknown.
	Region string
	// Passthrough serves model ids the catalog does not list: "*" any author/slug id, or a
	// prefix such as "openai/" stripped upstream. "" serves listed models only.
	Passthrough string
	// ServesCatalog makes the provider an endpoint of every catalog model at the model's
	// list price (an aggregator such as OpenRouter).
	ServesCatalog bool
}

// Endpoint is one provider serving one model.
type Endpoint struct {
	// ID indexes Catalog.Endpoints: per-endpoint state lives in slices indexed by it.
	ID int
	// Key names the endpoint across catalog generations ("openai/gpt-4o@azure"), so
	// health survives a reload.
	Key string
	// Model is the model the endpoint serves. A passthrough provider's shared endpoint
	// (in Catalog.Endpoints) has none; the copy Resolve returns points at its fresh Model.
	Model *Model
	// Provider is the provider's slug, the key of its adapter; ProviderName its display name.
	Provider, ProviderName string
	// Tag is the routing tag provider preferences match: the provider's slug, or
	// slug/variant for one of several endpoints of a provider ("deepinfra/turbo").
	Tag string
	// UpstreamID is the model id the provider expects in the request body.
	UpstreamID string
	Pricing    Pricing
	// ContextLength and MaxCompletionTokens are 0 when unknown.
	ContextLength, MaxCompletionTokens int
	// SupportedParameters as declared; Params is the same as a set (AllParams when none
	// were declared: an unknown endpoint is tried rather than refused).
	SupportedParameters []string
	Params              llm.ParamSet
	// Quantization is "int4" … "fp32", or "" when unknown.
	Quantization string
	// Retains and Trains come from the provider (see Provider).
	Retains, Trains bool
	Region          string
	Tags            []string
	// Passthrough marks the endpoint of a passthrough provider, shared by all the model
	// ids it passes through.
	Passthrough bool
}

// Model is one model clients can ask for.
type Model struct {
	ID, Name, Description string
	// Index is the model's place in Models(), so per-model state can live in a slice; -1
	// for a model built for a passthrough id.
	Index int
	// Created is when the model appeared in this catalog (unix seconds).
	Created             int64
	ContextLength       int
	MaxCompletionTokens int
	// Pricing is the model's list price: its cheapest endpoint's.
	Pricing Pricing
	// Aliases are other ids that resolve to the model ("gpt-4o").
	Aliases []string
	// InputModalities and OutputModalities are OpenRouter's architecture lists ([text]
	// when unknown); Tokenizer its tokenizer family ("GPT", "Claude"; "" shows "Other").
	InputModalities, OutputModalities []string
	Tokenizer                         string
	// SupportedParameters is the union of the endpoints' lists.
	SupportedParameters []string
	// Endpoints serve the model, in catalog order. Only endpoints of active providers (a
	// key configured) are listed.
	Endpoints []*Endpoint
}
