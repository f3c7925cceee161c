// Package llm owns the protocol-neutral domain types every stage of the node shares:
// the summary of a validated chat request, the upstream response handed between stages,
// token usage, and the error type that carries an HTTP status and OpenRouter-style metadata.
//
// It imports nothing of ours and nothing beyond the standard library, so every other
// package can depend on it without cycles.
package llm

import (
	"net/http"
	"time"
)

// Request is a validated chat-completion request: the client's body, untouched, plus the
// few fields the node reads to route and relay it. Stages read the summary; only a stage
// that must rewrite the body (a provider adapter) scans Body again.
type Request struct {
	// Body is the client's JSON body. It is valid JSON and an object; stages must not modify
	// it. Its buffer is reused once a stream has started relaying, when Body is set to nil:
	// stages that need the body afterwards copy what they need while the pipeline runs.
	Body []byte
	// Model is the model id the client asked for, as sent (it may carry a ":variant" suffix).
	Model string
	// Models is OpenRouter's ordered fallback list (`models`), empty when absent.
	Models []string
	// Stream reports whether the client asked for server-sent events.
	Stream bool
	// IncludeUsage reports stream_options.include_usage: the client wants the usage chunk.
	IncludeUsage bool
	// Messages is the number of entries in `messages` (always at least one).
	Messages int
	// HasTools reports whether `tools` is a non-empty array.
	HasTools bool
	// SessionID is `session_id` from the body, else the x-session-id header; empty when
	// neither was sent. It pins a conversation to one endpoint (sticky routing).
	SessionID string
	// PromptCacheKey is OpenAI's `prompt_cache_key`, the next sticky key after SessionID.
	PromptCacheKey string
	// PromptHash hashes the first system message and the first user message as sent: the
	// sticky key of a conversation that names none. 0 when there is neither.
	PromptHash uint64
	// Provider is the raw `provider` object (OpenRouter's routing preferences), nil when
	// absent; the router parses it. Route is the legacy top-level `route` string.
	Provider []byte
	Route    string
	// Params is the set of known parameters the body sends (non-null), for matching
	// against what each endpoint supports.
	Params ParamSet
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when neither was sent.
	MaxTokens int
	// Deterministic reports temperature 0 or a seed: a well-behaved upstream gives the same
	// request the same answer, which is what makes it cacheable without an opt-in.
	Deterministic bool
	// Received is when the node finished reading the request.
	Received time.Time
	// Header is the client's request header, read-only: the cache stage reads its policy
	// headers and the caller's credential from it.
	Header http.Header
}

// Usage is the token accounting of one generation, as reported by the upstream.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	CachedTokens     int64
	ReasoningTokens  int64
}

// Stream is an upstream's response as a sequence of OpenAI chat.completion.chunk events.
//
// Next returns the payload of the next `data:` event; the slice is valid only until the next
// call. The payload "[DONE]" ends a well-formed stream; io.EOF before it means the upstream
// closed the stream early. Buffered reports whether Next can return without reading from the
// network again, so a relay flushes exactly when it would otherwise wait. Close releases the
// connection and must be called once. A Stream is used by one goroutine.
type Stream interface {
	Next() ([]byte, error)
	Buffered() bool
	Close() error
}

// Response is an upstream's successful answer, handed from the attempt stage to the HTTP
// layer once the upstream produced its first byte.
type Response struct {
	// Body is the complete OpenAI chat.completion JSON of a non-streamed call.
	Body []byte
	// Stream carries the chunks of a streamed call; nil for non-streamed calls.
	Stream Stream
	// Provider is the display name of the provider that served the call.
	Provider string
	// Model is the node's id of the model that served the call.
	Model string
	// Route describes the attempts that led here, for the X-Crossroads-Route header.
	Route string
	// Dropped are parameters the request sent that the serving endpoint does not support
	// and that were therefore not forwarded.
	Dropped ParamSet
	// Price is what the serving endpoint charges, for the usage record's cost.
	Price Price
	// Cache says whether the prompt cache answered ("" when it was not involved), and Age
	// how old the answer is when it did.
	Cache CacheStatus
	Age   time.Duration
	// Release returns buffers behind Body to their pool; nil when there is nothing to return.
	// The HTTP layer calls it after writing Body.
	Release func()
}

// CacheStatus is the prompt cache's part in an answer, sent as X-Crossroads-Cache.
type CacheStatus string

// The statuses: a stored answer, a fresh upstream answer the cache saw (and may store), and
// an answer shared with an identical request in flight.
const (
	CacheHit       CacheStatus = "HIT"
	CacheMiss      CacheStatus = "MISS"
	CacheCoalesced CacheStatus = "COALESCED"
)

// Served reports whether the answer cost no upstream call of its own.
func (s CacheStatus) Served() bool { return s == CacheHit || s == CacheCoalesced }

// Price is an endpoint's list price in USD per token (Request: per request).
type Price struct {
	Prompt, Completion, Request, CacheRead float64
}

// Cost is what usage costs at p. Cached prompt tokens are billed at the cache-read price
// when the endpoint has one.
func (p Price) Cost(u Usage) float64 {
	prompt := float64(u.PromptTokens) * p.Prompt
	if u.CachedTokens > 0 && p.CacheRead > 0 && u.CachedTokens <= u.PromptTokens {
		prompt = float64(u.PromptTokens-u.CachedTokens)*p.Prompt + float64(u.CachedTokens)*p.CacheRead
	}
	return prompt + float64(u.CompletionTokens)*p.Completion + p.Request
}

// UsageRecord is the accounting of one answered chat request, handed to the node's usage
// sink when the response is complete: what the ledger bills and rankings count.
type UsageRecord struct {
	// ID is the generation id the client saw (X-Generation-Id).
	ID       string
	Time     time.Time
	Model    string
	Provider string
	Stream   bool
	Usage    Usage
	// CostUSD is what the upstream charged for this request: 0 when the cache answered.
	CostUSD float64
	// Cache is the cache's part; SavedUSD, for an answer the cache served, is what the
	// upstream call would have cost.
	Cache    CacheStatus
	SavedUSD float64
	// Status is the HTTP status the client got (200, or the status of an in-band stream
	// error); Complete is false for a stream that broke or that the client left.
	Status   int
	Complete bool
}

// Close releases whatever the response holds. It is safe on a nil receiver.
func (r *Response) Close() {
	if r == nil {
		return
	}
	if r.Stream != nil {
		_ = r.Stream.Close()
	}
	if r.Release != nil {
		r.Release()
		r.Release = nil
	}
}
