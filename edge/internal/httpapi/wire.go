package httpapi

import (
	"bytes"
	"crypto/rand"
	"strconv"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// objectInfo is what the relay learns from one response object while rewriting it.
type objectInfo struct {
	// usage is the raw usage object when present and not null.
	usage []byte
	// noChoices reports an empty (or absent) choices array: the usage-only final chunk.
	noChoices bool
	// errObj is the raw error object of an in-band upstream error.
	errObj []byte
	// created is the raw `created` value.
	created []byte
	// finish reports whether some choice carries a non-null finish_reason.
	finish bool
}

// appendHead appends the members the node writes first in every object it relays:
// `{"id":..,"provider":..,"model":..`. A stream computes it once and reuses it per chunk.
func appendHead(dst []byte, id, provider, model string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, id)
	dst = append(dst, `,"provider":`...)
	dst = jsonx.AppendString(dst, provider)
	dst = append(dst, `,"model":`...)
	return jsonx.AppendString(dst, model)
}

// rewriteObject appends src, an OpenAI chat.completion or chat.completion.chunk object,
// with head (from appendHead) in front and every other member copied byte for byte. It
// reads just enough on the way to tell usage chunks and in-band errors apart. With
// dropNullUsage, a `"usage":null` member is left out: the node asks streams for usage, and
// a client that did not should see chunks as the upstream would have sent them to it.
func rewriteObject(dst, src, head []byte, dropNullUsage bool) ([]byte, objectInfo, error) {
	var info objectInfo
	info.noChoices = true
	dst = append(dst, head...)
	it := jsonx.Object(src)
	var kb [64]byte
	for it.Next() {
		m := it.Member()
		switch string(m.Name(&kb)) {
		case "id", "provider", "model":
			continue
		case "choices":
			info.noChoices = isEmptyArray(m.Value)
			if !info.noChoices {
				info.finish = hasFinish(m.Value)
			}
		case "usage":
			if !jsonx.IsNull(m.Value) {
				info.usage = m.Value
			} else if dropNullUsage {
				continue
			}
		case "error":
			if !jsonx.IsNull(m.Value) {
				info.errObj = m.Value
			}
		case "created":
			info.created = m.Value
		}
		dst = append(dst, ',')
		dst = append(dst, src[m.Start:m.End]...)
	}
	if err := it.Err(); err != nil {
		return dst, info, err
	}
	if end := jsonx.SkipSpace(src, it.End()); end != len(src) {
		return dst, info, errTrailing
	}
	return append(dst, '}'), info, nil
}

type wireError string

func (e wireError) Error() string { return string(e) }

const errTrailing = wireError("unexpected data after the JSON object")

// isEmptyArray reports whether v, a validated value, is not an array with elements.
func isEmptyArray(v []byte) bool {
	if jsonx.KindOfValue(v) != jsonx.KindArray {
		return true
	}
	return v[jsonx.SkipSpace(v, 1)] == ']'
}

var finishKey = []byte(`"finish_reason"`)

// hasFinish reports whether the (validated) choices array sets a finish_reason other than
// null. It searches for the key rather than walking every choice: in valid JSON a quoted
// string followed by ':' can only be a key, and within choices only a choice has this one,
// so the search is exact and costs a fraction of a second parse.
func hasFinish(choices []byte) bool {
	for rest := choices; ; {
		i := bytes.Index(rest, finishKey)
		if i < 0 {
			return false
		}
		rest = rest[i+len(finishKey):]
		j := jsonx.SkipSpace(rest, 0)
		if j >= len(rest) || rest[j] != ':' {
			continue
		}
		j = jsonx.SkipSpace(rest, j+1)
		if j < len(rest) && rest[j] != 'n' {
			return true
		}
	}
}

// parseUsage reads the OpenAI usage object.
func parseUsage(v []byte) llm.Usage {
	var u llm.Usage
	it := jsonx.Object(v)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("prompt_tokens"):
			u.PromptTokens, _ = jsonx.ParseInt(m.Value)
		case m.KeyIs("completion_tokens"):
			u.CompletionTokens, _ = jsonx.ParseInt(m.Value)
		case m.KeyIs("total_tokens"):
			u.TotalTokens, _ = jsonx.ParseInt(m.Value)
		case m.KeyIs("prompt_tokens_details"):
			u.CachedTokens = nestedInt(m.Value, "cached_tokens")
		case m.KeyIs("completion_tokens_details"):
			u.ReasoningTokens = nestedInt(m.Value, "reasoning_tokens")
		}
	}
	return u
}

func nestedInt(obj []byte, key string) int64 {
	it := jsonx.Object(obj)
	for it.Next() {
		if m := it.Member(); m.KeyIs(key) {
			n, _ := jsonx.ParseInt(m.Value)
			return n
		}
	}
	return 0
}

// appendError appends the OpenRouter error object {"code":..,"message":..,..} (without the
// {"error": ...} envelope), adding OpenAI's type and param so OpenAI SDKs classify it.
func appendError(dst []byte, e *llm.Error) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, e.Message)
	if e.Type != "" {
		dst = append(dst, `,"type":`...)
		dst = jsonx.AppendString(dst, e.Type)
	}
	dst = append(dst, `,"param":`...)
	if e.Param != "" {
		dst = jsonx.AppendString(dst, e.Param)
	} else {
		dst = append(dst, "null"...)
	}
	if e.Provider != "" || e.Raw != "" || len(e.Attempts) > 0 {
		dst = append(dst, `,"metadata":{`...)
		sep := false
		if e.Provider != "" {
			dst = append(dst, `"provider_name":`...)
			dst = jsonx.AppendString(dst, e.Provider)
			sep = true
		}
		if e.Raw != "" {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"raw":`...)
			dst = jsonx.AppendString(dst, e.Raw)
			sep = true
		}
		if len(e.Attempts) > 0 {
			if sep {
				dst = append(dst, ',')
			}
			dst = appendAttempts(dst, e.Attempts)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendAttempts lists every endpoint a failed request tried, so a client (and the
// person reading its logs) sees which providers failed how, not just the last one.
func appendAttempts(dst []byte, as []llm.Attempt) []byte {
	dst = append(dst, `"attempts":[`...)
	for i, a := range as {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"model":`...)
		dst = jsonx.AppendString(dst, a.Model)
		dst = append(dst, `,"provider":`...)
		dst = jsonx.AppendString(dst, a.Provider)
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(a.Status), 10)
		dst = append(dst, `,"reason":`...)
		dst = jsonx.AppendString(dst, a.Reason)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendErrorBody appends a whole error response body.
func appendErrorBody(dst []byte, e *llm.Error) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendError(dst, e)
	return append(dst, '}')
}

// appendTerminalChunk appends the chunk that ends a failed stream, OpenRouter's shape: an
// error object and one choice with finish_reason "error", so every client sees the failure
// instead of a clean end.
func appendTerminalChunk(dst []byte, id, provider, model string, created []byte, e *llm.Error) []byte {
	dst = appendHead(dst, id, provider, model)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	if len(created) > 0 {
		dst = append(dst, created...)
	} else {
		dst = strconv.AppendInt(dst, time.Now().Unix(), 10)
	}
	dst = append(dst, `,"error":`...)
	dst = appendError(dst, e)
	dst = append(dst, `,"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}]}`...)
	return dst
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newGenerationID returns "gen-<unix>-<20 random alphanumerics>", OpenRouter's format. The
// random part comes from crypto/rand: ids name billable records and must not be guessable.
func newGenerationID(now time.Time) string {
	var rnd [20]byte
	_, _ = rand.Read(rnd[:])
	b := make([]byte, 0, 36)
	b = append(b, "gen-"...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '-')
	for _, r := range rnd {
		// 256 % 62 skews the distribution slightly; 20 characters keep ~119 bits regardless.
		b = append(b, idAlphabet[int(r)%len(idAlphabet)])
	}
	return string(b)
}
