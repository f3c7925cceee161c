package sim

import (
	"net/http"
	"strconv"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// Model describes one simulated model, in the shape the catalogue needs.
type Model struct {
	ID                  string // bare id, without the "sim/" prefix
	Name                string
	Description         string
	ContextLength       int
	MaxCompletionTokens int
	SupportedParameters []string
	Created             int64
}

// modelCreated is fixed so that /models output is byte-stable across runs.
const modelCreated = 1767225600 // 2026-01-01T00:00:00Z

// pacing says where a model's default timing comes from.
type pacing uint8

const (
	pacingConfig pacing = iota // Config.TTFT and Config.TokensPerSecond
	pacingNone                 // never sleeps
)

// modelKind selects behaviour beyond plain text.
type modelKind uint8

const (
	kindChat modelKind = iota
	kindTools
	kindReasoning
)

type modelSpec struct {
	Model
	pacing pacing
	kind   modelKind
}

var baseParams = []string{
	"max_tokens", "max_completion_tokens", "temperature", "top_p", "seed",
	"tools", "tool_choice", "response_format", "structured_outputs",
}

var reasoningParams = append(append([]string(nil), baseParams...),
	"reasoning", "include_reasoning", "reasoning_effort")

var catalogue = []modelSpec{
	{Model: Model{
		ID:                  "chat",
		Name:                "Sim: Chat",
		Description:         "Simulated chat model with realistic pacing (time to first token, then steady tokens per second). Deterministic text, no network.",
		ContextLength:       128000,
		MaxCompletionTokens: 32768,
		SupportedParameters: baseParams,
		Created:             modelCreated,
	}, pacing: pacingConfig, kind: kindChat},
	{Model: Model{
		ID:                  "fast",
		Name:                "Sim: Fast",
		Description:         "Simulated chat model that answers instantly. For benchmarks and tests.",
		ContextLength:       128000,
		MaxCompletionTokens: 32768,
		SupportedParameters: baseParams,
		Created:             modelCreated,
	}, pacing: pacingNone, kind: kindChat},
	{Model: Model{
		ID:                  "tools",
		Name:                "Sim: Tools",
		Description:         "Simulated model that calls the offered tool with arguments generated from its JSON schema, then answers from the tool result.",
		ContextLength:       128000,
		MaxCompletionTokens: 32768,
		SupportedParameters: baseParams,
		Created:             modelCreated,
	}, pacing: pacingConfig, kind: kindTools},
	{Model: Model{
		ID:                  "reasoning",
		Name:                "Sim: Reasoning",
		Description:         "Simulated reasoning model: streams reasoning before the answer and reports reasoning tokens.",
		ContextLength:       200000,
		MaxCompletionTokens: 65536,
		SupportedParameters: reasoningParams,
		Created:             modelCreated,
	}, pacing: pacingConfig, kind: kindReasoning},
}

// Models returns the catalogue of simulated models. The slice and its
// contents are fresh copies, so callers may keep or modify them.
func Models() []Model {
	out := make([]Model, len(catalogue))
	for i, m := range catalogue {
		out[i] = m.Model
		out[i].SupportedParameters = append([]string(nil), m.SupportedParameters...)
	}
	return out
}

func lookupModel(id string) *modelSpec {
	if len(id) > 4 && id[:4] == "sim/" {
		id = id[4:]
	}
	for i := range catalogue {
		if catalogue[i].ID == id {
			return &catalogue[i]
		}
	}
	return nil
}

func appendModelJSON(dst []byte, m *Model) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, m.ID)
	dst = append(dst, `,"object":"model","created":`...)
	dst = strconv.AppendInt(dst, m.Created, 10)
	dst = append(dst, `,"owned_by":"crossroads-sim","name":`...)
	dst = jsonx.AppendString(dst, m.Name)
	dst = append(dst, `,"description":`...)
	dst = jsonx.AppendString(dst, m.Description)
	dst = append(dst, `,"context_length":`...)
	dst = strconv.AppendInt(dst, int64(m.ContextLength), 10)
	dst = append(dst, `,"max_completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(m.MaxCompletionTokens), 10)
	dst = append(dst, `,"supported_parameters":[`...)
	for i, p := range m.SupportedParameters {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, p)
	}
	return append(dst, "]}"...)
}

func modelsResponse(req *http.Request) *http.Response {
	b := append(make([]byte, 0, 2048), `{"object":"list","data":[`...)
	for i := range catalogue {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModelJSON(b, &catalogue[i].Model)
	}
	b = append(b, "]}"...)
	return jsonResponse(req, http.StatusOK, b, nil)
}

func modelResponse(req *http.Request, id string) *http.Response {
	spec := lookupModel(id)
	if spec == nil {
		return modelNotFound(req, id)
	}
	return jsonResponse(req, http.StatusOK, appendModelJSON(nil, &spec.Model), nil)
}
