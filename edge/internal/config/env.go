package config

// Environment providers: a user who already exports the variables the OpenAI and
// OpenRouter SDKs read gets those providers with no configuration file.

const (
	defaultOpenAIBaseURL     = "https://api.openai.com/v1"
	defaultOpenRouterBaseURL = "https://openrouter.ai/api/v1"
)

// openAIModels are the OpenAI models served when OPENAI_API_KEY is set, with list prices in
// USD per million tokens as published by OpenAI (checked 2025-06). Any other model is still
// reachable as openai/<id> through the provider's passthrough. The routing issue replaces
// this list with the full dated catalog.
var openAIModels = []Model{
	{ID: "openai/gpt-4o", UpstreamID: "gpt-4o", Name: "OpenAI: GPT-4o", Aliases: []string{"gpt-4o"}, ContextLength: 128000, MaxCompletionTokens: 16384,
		Pricing: Pricing{Prompt: 2.5, Completion: 10, InputCacheRead: 1.25}, InputModalities: []string{"text", "image"}},
	{ID: "openai/gpt-4o-mini", UpstreamID: "gpt-4o-mini", Name: "OpenAI: GPT-4o-mini", Aliases: []string{"gpt-4o-mini"}, ContextLength: 128000, MaxCompletionTokens: 16384,
		Pricing: Pricing{Prompt: 0.15, Completion: 0.6, InputCacheRead: 0.075}, InputModalities: []string{"text", "image"}},
	{ID: "openai/gpt-4.1", UpstreamID: "gpt-4.1", Name: "OpenAI: GPT-4.1", Aliases: []string{"gpt-4.1"}, ContextLength: 1047576, MaxCompletionTokens: 32768,
		Pricing: Pricing{Prompt: 2, Completion: 8, InputCacheRead: 0.5}, InputModalities: []string{"text", "image"}},
	{ID: "openai/gpt-4.1-mini", UpstreamID: "gpt-4.1-mini", Name: "OpenAI: GPT-4.1 Mini", Aliases: []string{"gpt-4.1-mini"}, ContextLength: 1047576, MaxCompletionTokens: 32768,
		Pricing: Pricing{Prompt: 0.4, Completion: 1.6, InputCacheRead: 0.1}, InputModalities: []string{"text", "image"}},
	{ID: "openai/gpt-4.1-nano", UpstreamID: "gpt-4.1-nano", Name: "OpenAI: GPT-4.1 Nano", Aliases: []string{"gpt-4.1-nano"}, ContextLength: 1047576, MaxCompletionTokens: 32768,
		Pricing: Pricing{Prompt: 0.1, Completion: 0.4, InputCacheRead: 0.025}, InputModalities: []string{"text", "image"}},
	{ID: "openai/o4-mini", UpstreamID: "o4-mini", Name: "OpenAI: o4 Mini", Aliases: []string{"o4-mini"}, ContextLength: 200000, MaxCompletionTokens: 100000,
		Pricing: Pricing{Prompt: 1.1, Completion: 4.4, InputCacheRead: 0.275}, InputModalities: []string{"text", "image"}},
}

var openAIParams = []string{"max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "frequency_penalty",
	"presence_penalty", "seed", "logit_bias", "logprobs", "top_logprobs", "response_format", "structured_outputs",
	"tools", "tool_choice", "parallel_tool_calls"}

func addEnvProviders(c *Config, lookup func(string) (string, bool)) {
	has := func(name string) bool {
		for _, p := range c.Providers {
			if p.Name == name {
				return true
			}
		}
		return false
	}
	if key, ok := lookup("OPENAI_API_KEY"); ok && key != "" && !has("openai") {
		base := defaultOpenAIBaseURL
		if u, ok := lookup("OPENAI_BASE_URL"); ok && u != "" {
			base = u
		}
		models := make([]Model, len(openAIModels))
		copy(models, openAIModels)
		for i := range models {
			models[i].SupportedParameters = openAIParams
		}
		c.Providers = append(c.Providers, Provider{
			Name: "openai", DisplayName: "OpenAI", BaseURL: base, APIKey: key,
			Models: models, Passthrough: "openai/",
		})
	}
	if key, ok := lookup("OPENROUTER_API_KEY"); ok && key != "" && !has("openrouter") {
		base := defaultOpenRouterBaseURL
		if u, ok := lookup("OPENROUTER_BASE_URL"); ok && u != "" {
			base = u
		}
		c.Providers = append(c.Providers, Provider{
			Name: "openrouter", DisplayName: "OpenRouter", BaseURL: base, APIKey: key,
			Passthrough: "*",
		})
	}
}
