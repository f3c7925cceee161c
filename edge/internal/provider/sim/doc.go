// Package sim owns the built-in simulated provider: an in-process fake of an
// OpenAI-compatible chat-completions server, reached through an
// http.RoundTripper, so a node with no keys and no network still exercises the
// whole pipeline (routing, streaming, usage metering, tool calls, failures).
//
// The node talks to it as to any OpenAI-compatible upstream:
//
//	client := &http.Client{Transport: sim.New(sim.Config{})}
//
// Endpoints, on any host and under any path prefix:
//
//	POST <prefix>/chat/completions   chat completion, JSON or SSE ("stream": true)
//	GET  <prefix>/models             OpenAI list of Models()
//	GET  <prefix>/models/<id>        one model
//
// Anything else answers 404 with an OpenAI error body.
//
// # Models
//
// Model ids are bare ("chat", not "sim/chat"); the node adds the "sim/"
// prefix in its catalogue. A "sim/" prefix in a request is tolerated.
//
//   - chat: realistic pacing from Config (time to first token, then tokens per second).
//   - fast: no delays at all; for benchmarks and tests.
//   - tools: calls a tool when the request offers tools and tool_choice is not
//     "none"; answers in text mentioning the result once the last message is a
//     tool result. Any model calls a tool when tool_choice is "required" or
//     names a function.
//   - reasoning: emits reasoning text (OpenRouter's "reasoning" field) before
//     the answer and reports completion_tokens_details.reasoning_tokens.
//     reasoning_effort / reasoning.effort scale it, reasoning.max_tokens caps
//     it, reasoning.exclude or include_reasoning:false hide it (still billed).
//
// tools and reasoning pace like chat. Requests are validated as OpenAI
// does: unparseable JSON, a missing model or messages, an unknown model, a
// bad role, out-of-range max_tokens, an impossible tool_choice or a prompt
// over the context length get OpenAI's 400 or 404 error bodies. Keys match
// case-sensitively. n > 1 is refused with a 400 rather than answered wrongly.
//
// Output is deterministic: the same messages (and seed) give the same bytes,
// except for the response id and created time. Text comes from a small fixed
// vocabulary; one word is one token. When the request asks for
// response_format json_object or json_schema, the content is JSON generated
// from the schema instead.
//
// # Token accounting
//
// Usage is an approximation, not a tokenizer: prompt_tokens is
// ceil(bytes of message text / 4) + 4 per message, where message text is the
// content (text parts joined) plus the name and arguments of assistant tool
// calls. completion_tokens counts generated pieces: one word of text, one
// tool-call header, or one fragment (about 4 bytes) of tool arguments or of
// structured JSON output. Reasoning tokens are part of completion_tokens.
// max_completion_tokens (or max_tokens) caps the total, reasoning first; when
// the cap cuts the natural length, finish_reason is "length".
//
// # Directives
//
// A user can drive failure paths from curl with a directive line in the LAST
// user message, on a line of its own:
//
//	[sim ttft=200ms tps=100 tokens=30 error=429]
//
// or in the request's user field: "user": "sim:error=429 tokens=5". Message
// directives override the user field, and directives override the model's
// pacing (so "fast" can be slowed down too). Keys:
//
//	ttft=<duration>  time to first token (Go duration, or a bare number of milliseconds)
//	tps=<float>      tokens per second; 0 or "inf" means unpaced
//	tokens=<int>     natural completion length (0..100000); max_tokens still caps it
//	error=<kind>     400 401 403 404 429 500 502 503: that OpenAI error response
//	                 timeout:      RoundTrip blocks until the request context ends (a hung upstream)
//	                 cut:          half the stream, then io.ErrUnexpectedEOF (non-stream: half the body)
//	                 malformed:    stream starts with a garbage event and ends; non-stream is 200 with invalid JSON
//	                 stream-error: half the stream, then an in-band error event, no [DONE] (non-stream: 500)
//
// An unknown key or bad value is a 400, so a typo never silently does nothing.
//
// # Bodies
//
// Response bodies are generated on Read, with no goroutine per request: a
// Read blocks until the next event is due (one timer per body), returns every
// event already due, and returns the context's error as soon as the request
// context ends. Close makes later Reads fail and wakes a blocked one.
package sim
