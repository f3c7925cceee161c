package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Content is one turn of a conversation, in requests and responses.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one member of the Part oneof; exactly one data field is set.
type Part struct {
	Text                *string           `json:"text,omitempty"`
	Thought             bool              `json:"thought,omitempty"`
	ThoughtSignature    string            `json:"thoughtSignature,omitempty"`
	InlineData          *Blob             `json:"inlineData,omitempty"`
	FileData            *FileData         `json:"fileData,omitempty"`
	FunctionCall        *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse    *FunctionResponse `json:"functionResponse,omitempty"`
	ExecutableCode      json.RawMessage   `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage   `json:"codeExecutionResult,omitempty"`
	VideoMetadata       json.RawMessage   `json:"videoMetadata,omitempty"`
}

// Blob is inline media.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData references media by URI.
type FileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a model's tool call.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is a tool's answer.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Schema is the OpenAPI subset Gemini accepts for parameters and
// responseSchema. Decoding it strictly is the point: JSON Schema keys outside
// the subset ($schema, additionalProperties, ...) are rejected as the real
// API rejects them, which a format plugin must know about.
type Schema struct {
	Type             json.RawMessage    `json:"type,omitempty"`
	Format           string             `json:"format,omitempty"`
	Title            string             `json:"title,omitempty"`
	Description      string             `json:"description,omitempty"`
	Nullable         *bool              `json:"nullable,omitempty"`
	Enum             []string           `json:"enum,omitempty"`
	MaxItems         json.RawMessage    `json:"maxItems,omitempty"`
	MinItems         json.RawMessage    `json:"minItems,omitempty"`
	Properties       map[string]*Schema `json:"properties,omitempty"`
	Required         []string           `json:"required,omitempty"`
	MinProperties    json.RawMessage    `json:"minProperties,omitempty"`
	MaxProperties    json.RawMessage    `json:"maxProperties,omitempty"`
	MinLength        json.RawMessage    `json:"minLength,omitempty"`
	MaxLength        json.RawMessage    `json:"maxLength,omitempty"`
	Pattern          string             `json:"pattern,omitempty"`
	Example          json.RawMessage    `json:"example,omitempty"`
	AnyOf            []*Schema          `json:"anyOf,omitempty"`
	PropertyOrdering []string           `json:"propertyOrdering,omitempty"`
	Default          json.RawMessage    `json:"default,omitempty"`
	Items            *Schema            `json:"items,omitempty"`
	Minimum          *float64           `json:"minimum,omitempty"`
	Maximum          *float64           `json:"maximum,omitempty"`
}

type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           *Schema         `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	Response             *Schema         `json:"response"`
	Behavior             string          `json:"behavior"`
}

type tool struct {
	FunctionDeclarations  []functionDeclaration `json:"functionDeclarations"`
	GoogleSearch          json.RawMessage       `json:"googleSearch"`
	GoogleSearchRetrieval json.RawMessage       `json:"googleSearchRetrieval"`
	CodeExecution         json.RawMessage       `json:"codeExecution"`
	URLContext            json.RawMessage       `json:"urlContext"`
}

type generationConfig struct {
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *int            `json:"topK"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	StopSequences      []string        `json:"stopSequences"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	Seed               *int64          `json:"seed"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     *Schema         `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ResponseLogprobs   *bool           `json:"responseLogprobs"`
	Logprobs           *int            `json:"logprobs"`
	ResponseModalities []string        `json:"responseModalities"`
	MediaResolution    string          `json:"mediaResolution"`
	ThinkingConfig     *struct {
		ThinkingBudget  *int   `json:"thinkingBudget"`
		IncludeThoughts *bool  `json:"includeThoughts"`
		ThinkingLevel   string `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
}

// generateRequest is GenerateContentRequest as the REST API takes it.
type generateRequest struct {
	Contents          []Content `json:"contents"`
	SystemInstruction *Content  `json:"systemInstruction"`
	Tools             []tool    `json:"tools"`
	ToolConfig        *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *generationConfig `json:"generationConfig"`
	SafetySettings   []struct {
		Category  string `json:"category"`
		Threshold string `json:"threshold"`
	} `json:"safetySettings"`
	CachedContent string            `json:"cachedContent"`
	Labels        map[string]string `json:"labels"`
}

// request is what the fake keeps of a validated request.
type request struct {
	Candidates    int
	MaxTokens     int // 0 = unlimited
	StopSequences []string
	JSONSchema    *Schema
	JSONMode      bool
	Functions     map[string]*Schema
	lastUserText  string
	promptChars   int
	// unsignedCall names a function call of the current turn (after the last
	// user text) that came back without a thoughtSignature; unsignedPos is
	// its 1-based turn position, as the API reports it.
	unsignedCall string
	unsignedPos  int
}

var unknownFieldRE = regexp.MustCompile(`^json: unknown field "(.*)"$`)

func decodeError(err error) error {
	if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("Invalid JSON payload received. Unknown name %q: Cannot find field.", m[1])
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("Invalid value at '%s' (%s), %s", te.Field, te.Type, te.Value)
	}
	return fmt.Errorf("Invalid JSON payload received. %v", err)
}

func violation(field, msg string, args ...any) error {
	return fmt.Errorf("* GenerateContentRequest.%s: %s\n", field, fmt.Sprintf(msg, args...))
}

var functionNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.\-]{0,63}$`)

// parseRequest decodes and validates a GenerateContentRequest with the real
// API's messages.
func parseRequest(body []byte) (*request, error) {
	var g generateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, errors.New("Invalid JSON payload received. Unexpected token.")
	}
	r := &request{Candidates: 1, Functions: map[string]*Schema{}}
	if len(g.Contents) == 0 {
		return nil, violation("contents", "contents is not specified")
	}
	if si := g.SystemInstruction; si != nil {
		if len(si.Parts) == 0 {
			return nil, violation("system_instruction.parts", "contents.parts must not be empty.")
		}
		for j, p := range si.Parts {
			if p.Text == nil {
				return nil, violation(fmt.Sprintf("system_instruction.parts[%d]", j), "only text parts are supported in system instruction")
			}
			r.promptChars += len(*p.Text)
		}
	}
	for i, t := range g.Tools {
		for j, f := range t.FunctionDeclarations {
			field := fmt.Sprintf("tools[%d].function_declarations[%d]", i, j)
			if !functionNameRE.MatchString(f.Name) {
				return nil, violation(field+".name", "Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64.")
			}
			if f.Parameters != nil && len(f.ParametersJSONSchema) > 0 {
				return nil, violation(field, "parameters and parameters_json_schema are mutually exclusive")
			}
			if p := f.Parameters; p != nil && len(p.Properties) > 0 && !strings.EqualFold(typeName(p), "object") {
				return nil, violation(field+".parameters.type", "must be specified when not empty OBJECT.")
			}
			if p := f.Parameters; p != nil && strings.EqualFold(typeName(p), "object") && len(p.Properties) == 0 {
				return nil, violation(field+".parameters.properties", "should be non-empty for OBJECT type")
			}
			r.Functions[f.Name] = f.Parameters
			r.promptChars += len(f.Name) + len(f.Description) + 16*len(paramNames(f.Parameters))
		}
	}
	if tc := g.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", "MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED":
		default:
			return nil, fmt.Errorf("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), %q", fc.Mode)
		}
		if len(fc.AllowedFunctionNames) > 0 && fc.Mode != "ANY" && fc.Mode != "VALIDATED" {
			return nil, violation("tool_config.function_calling_config.allowed_function_names", "allowed_function_names can only be set when mode is ANY or VALIDATED.")
		}
		for _, n := range fc.AllowedFunctionNames {
			if _, ok := r.Functions[n]; !ok {
				return nil, violation("tool_config.function_calling_config.allowed_function_names", "function %q is not declared in tools.", n)
			}
		}
	}
	if gc := g.GenerationConfig; gc != nil {
		if err := checkGeneration(gc, r); err != nil {
			return nil, err
		}
	}

	var prevCalls []string // function names called by the previous model turn
	prevRole := ""
	for i, c := range g.Contents {
		role := c.Role
		if role == "" {
			role = "user"
		}
		if role != "user" && role != "model" {
			return nil, errors.New("Please use a valid role: user, model.")
		}
		if len(c.Parts) == 0 {
			return nil, violation(fmt.Sprintf("contents[%d].parts", i), "contents.parts must not be empty.")
		}
		var calls, responses []string
		var text strings.Builder
		for j, p := range c.Parts {
			field := fmt.Sprintf("contents[%d].parts[%d]", i, j)
			if err := checkPart(field, p); err != nil {
				return nil, err
			}
			switch {
			case p.Text != nil:
				r.promptChars += len(*p.Text)
				if text.Len() > 0 {
					text.WriteByte('\n')
				}
				text.WriteString(*p.Text)
			case p.FunctionCall != nil:
				if p.ThoughtSignature == "" && r.unsignedCall == "" {
					r.unsignedCall, r.unsignedPos = p.FunctionCall.Name, i+1
				}
				if role != "model" {
					return nil, violation(field+".function_call", "function_call is only allowed in model turns.")
				}
				calls = append(calls, p.FunctionCall.Name)
				r.promptChars += len(p.FunctionCall.Name) + len(p.FunctionCall.Args)
			case p.FunctionResponse != nil:
				responses = append(responses, p.FunctionResponse.Name)
				r.promptChars += len(p.FunctionResponse.Name) + len(p.FunctionResponse.Response)
			case p.InlineData != nil:
				r.promptChars += 1032 // an image is ~258 tokens
			case p.FileData != nil:
				r.promptChars += 1032
			}
		}
		if len(calls) > 0 && prevRole == "model" {
			return nil, errors.New("Please ensure that function call turn comes immediately after a user turn or after a function response turn.")
		}
		if len(responses) > 0 {
			if len(prevCalls) == 0 {
				return nil, errors.New("Please ensure that function response turn comes immediately after a function call turn.")
			}
			if len(responses) != len(prevCalls) {
				return nil, errors.New("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
			}
		}
		if role == "user" && text.Len() > 0 {
			r.lastUserText = text.String()
			r.unsignedCall, r.unsignedPos = "", 0 // only the current turn's calls must be signed
		} else if role == "user" {
			r.lastUserText = "" // a tool-result turn carries no directives
		}
		prevCalls, prevRole = calls, role
	}
	return r, nil
}

func typeName(s *Schema) string {
	var t string
	if s != nil && json.Unmarshal(s.Type, &t) == nil {
		return t
	}
	return ""
}

func paramNames(s *Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	for k := range s.Properties {
		out = append(out, k)
	}
	return out
}

func checkPart(field string, p Part) error {
	set := []string{}
	if p.Text != nil {
		set = append(set, "text")
	}
	if p.InlineData != nil {
		set = append(set, "inline_data")
	}
	if p.FileData != nil {
		set = append(set, "file_data")
	}
	if p.FunctionCall != nil {
		set = append(set, "function_call")
	}
	if p.FunctionResponse != nil {
		set = append(set, "function_response")
	}
	if len(p.ExecutableCode) > 0 {
		set = append(set, "executable_code")
	}
	if len(p.CodeExecutionResult) > 0 {
		set = append(set, "code_execution_result")
	}
	switch len(set) {
	case 0:
		return violation(field+".data", "required oneof field 'data' must have one initialized field")
	case 1:
	default:
		return fmt.Errorf("Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '%s'", set[1])
	}
	switch {
	case p.InlineData != nil:
		if p.InlineData.MimeType == "" {
			return violation(field+".inline_data.mime_type", "mime_type must be specified.")
		}
		if _, err := base64.StdEncoding.DecodeString(p.InlineData.Data); err != nil {
			if _, err := base64.URLEncoding.DecodeString(p.InlineData.Data); err != nil {
				return fmt.Errorf("Invalid value at '%s.inline_data.data' (TYPE_BYTES), Base64 decoding failed for %q", field, trunc(p.InlineData.Data))
			}
		}
	case p.FileData != nil:
		if p.FileData.FileURI == "" {
			return violation(field+".file_data.file_uri", "file_uri must be specified.")
		}
	case p.FunctionCall != nil:
		if p.FunctionCall.Name == "" {
			return violation(field+".function_call.name", "Name cannot be empty.")
		}
		if len(p.FunctionCall.Args) > 0 && p.FunctionCall.Args[0] != '{' {
			return fmt.Errorf("Invalid value at '%s.function_call.args' (type.googleapis.com/google.protobuf.Struct), %s", field, trunc(string(p.FunctionCall.Args)))
		}
	case p.FunctionResponse != nil:
		if p.FunctionResponse.Name == "" {
			return violation(field+".function_response.name", "Name cannot be empty.")
		}
		if len(p.FunctionResponse.Response) == 0 || p.FunctionResponse.Response[0] != '{' {
			return fmt.Errorf("Invalid value at '%s.function_response.response' (type.googleapis.com/google.protobuf.Struct), %s", field, trunc(string(p.FunctionResponse.Response)))
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func checkGeneration(gc *generationConfig, r *request) error {
	if t := gc.Temperature; t != nil && (*t < 0 || *t > 2) {
		return violation("generation_config.temperature", "temperature must be in the range [0.0, 2.0].")
	}
	if p := gc.TopP; p != nil && (*p < 0 || *p > 1) {
		return violation("generation_config.top_p", "top_p must be in the range [0.0, 1.0].")
	}
	if c := gc.CandidateCount; c != nil {
		if *c < 1 || *c > 8 {
			return violation("generation_config.candidate_count", "candidate_count must be in the range [1, 8].")
		}
		r.Candidates = *c
	}
	if m := gc.MaxOutputTokens; m != nil {
		if *m < 1 {
			return violation("generation_config.max_output_tokens", "max_output_tokens must be positive.")
		}
		r.MaxTokens = *m
	}
	if len(gc.StopSequences) > 5 {
		return violation("generation_config.stop_sequences", "stop_sequences must have at most 5 elements.")
	}
	r.StopSequences = gc.StopSequences
	switch gc.ResponseMimeType {
	case "", "text/plain":
	case "application/json":
		r.JSONMode = true
	case "text/x.enum":
	default:
		return fmt.Errorf("* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n")
	}
	if gc.ResponseSchema != nil || len(gc.ResponseJSONSchema) > 0 {
		if !r.JSONMode && gc.ResponseMimeType != "text/x.enum" {
			return violation("generation_config.response_mime_type", "When using response_schema or response_json_schema, response_mime_type must be application/json or text/x.enum.")
		}
		r.JSONSchema = gc.ResponseSchema
	}
	return nil
}
