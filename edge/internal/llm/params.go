package llm

import "math/bits"

// Param is a request parameter an endpoint may or may not honour, in OpenRouter's
// supported_parameters vocabulary. Routing compares what a request sends with what each
// endpoint supports as two bitsets, so the check costs one AND per candidate.
type Param uint8

// The parameters routing knows. StructuredOutputs is not a body key of its own: it is
// response_format with type json_schema, which many endpoints that take json_object refuse.
const (
	ParamTemperature Param = iota
	ParamTopP
	ParamTopK
	ParamMinP
	ParamTopA
	ParamFrequencyPenalty
	ParamPresencePenalty
	ParamRepetitionPenalty
	ParamSeed
	ParamMaxTokens
	ParamMaxCompletionTokens
	ParamStop
	ParamLogitBias
	ParamLogprobs
	ParamTopLogprobs
	ParamResponseFormat
	ParamStructuredOutputs
	ParamTools
	ParamToolChoice
	ParamParallelToolCalls
	ParamReasoning
	ParamIncludeReasoning
	ParamReasoningEffort
	ParamVerbosity
	ParamWebSearchOptions
	ParamN
	ParamPrediction
	ParamServiceTier
	ParamModalities
	numParams
)

var paramNames = [numParams]string{
	"temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty", "presence_penalty",
	"repetition_penalty", "seed", "max_tokens", "max_completion_tokens", "stop", "logit_bias",
	"logprobs", "top_logprobs", "response_format", "structured_outputs", "tools", "tool_choice",
	"parallel_tool_calls", "reasoning", "include_reasoning", "reasoning_effort", "verbosity",
	"web_search_options", "n", "prediction", "service_tier", "modalities",
}

// String is the parameter's name in supported_parameters.
func (p Param) String() string {
	if p < numParams {
		return paramNames[p]
	}
	return "unknown"
}

// Key is the request body field that carries the parameter.
func (p Param) Key() string {
	if p == ParamStructuredOutputs {
		return "response_format"
	}
	return p.String()
}

// ParamByName finds a parameter by its supported_parameters name (which is also its body key).
func ParamByName(name string) (Param, bool) {
	for i, n := range paramNames {
		if n == name {
			return Param(i), true
		}
	}
	return 0, false
}

// ParamSet is a set of Params.
type ParamSet uint64

// AllParams is every parameter: what an endpoint that declares no supported_parameters is
// assumed to take, since an unknown endpoint is better tried than silently refused.
const AllParams = ParamSet(1)<<numParams - 1

// With returns s plus p.
func (s ParamSet) With(p Param) ParamSet { return s | 1<<p }

// Has reports whether p is in s.
func (s ParamSet) Has(p Param) bool { return s&(1<<p) != 0 }

// Len is the number of parameters in s.
func (s ParamSet) Len() int { return bits.OnesCount64(uint64(s)) }

// ParamSetOf builds the set of the named parameters and returns the names it does not know.
func ParamSetOf(names []string) (ParamSet, []string) {
	var s ParamSet
	var unknown []string
	for _, n := range names {
		if p, ok := ParamByName(n); ok {
			s = s.With(p)
		} else {
			unknown = append(unknown, n)
		}
	}
	return s, unknown
}

// Names lists the parameters of s in a fixed order.
func (s ParamSet) Names() []string {
	out := make([]string, 0, s.Len())
	for p := Param(0); p < numParams; p++ {
		if s.Has(p) {
			out = append(out, p.String())
		}
	}
	return out
}

// AppendList appends the names of s separated by ", ", the form of a response header.
func (s ParamSet) AppendList(dst []byte) []byte {
	first := true
	for p := Param(0); p < numParams; p++ {
		if s.Has(p) {
			if !first {
				dst = append(dst, ", "...)
			}
			first = false
			dst = append(dst, paramNames[p]...)
		}
	}
	return dst
}
