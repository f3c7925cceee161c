package sim

import (
	"net/http"
	"strconv"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// apiError is an OpenAI error response waiting to be written. code is raw
// JSON because OpenAI mixes string codes, numeric codes and null.
type apiError struct {
	status int
	typ    string
	code   string // raw JSON: `"rate_limit_exceeded"`, `502` or "" for null
	param  string // "" for null
	msg    string
	header http.Header
}

func (e *apiError) Error() string { return "sim: " + e.msg }

func (e *apiError) body() []byte {
	b := make([]byte, 0, 96+len(e.msg))
	b = append(b, `{"error":{"message":`...)
	b = jsonx.AppendString(b, e.msg)
	b = append(b, `,"type":`...)
	b = jsonx.AppendString(b, e.typ)
	b = append(b, `,"param":`...)
	if e.param == "" {
		b = append(b, "null"...)
	} else {
		b = jsonx.AppendString(b, e.param)
	}
	b = append(b, `,"code":`...)
	if e.code == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, e.code...)
	}
	return append(b, "}}"...)
}

func (e *apiError) response(req *http.Request) *http.Response {
	return jsonResponse(req, e.status, e.body(), e.header)
}

func invalidRequest(param, code, msg string) *apiError {
	if code != "" {
		code = strconv.Quote(code)
	}
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, param: param, msg: msg}
}

func modelNotFound(req *http.Request, id string) *http.Response {
	e := &apiError{
		status: http.StatusNotFound, typ: "invalid_request_error", code: `"model_not_found"`,
		msg: "The model `" + id + "` does not exist or you do not have access to it.",
	}
	return e.response(req)
}

func invalidURL(req *http.Request) *http.Response {
	e := &apiError{
		status: http.StatusNotFound, typ: "invalid_request_error",
		msg: "Invalid URL (" + req.Method + " " + req.URL.Path + ")",
	}
	return e.response(req)
}

// faultError is the response for an error=<status> directive, with the body
// and headers OpenAI sends for that status.
func faultError(f fault, model string) *apiError {
	switch f {
	case fault400:
		return invalidRequest("", "", "sim: simulated invalid request (error=400 directive).")
	case fault401:
		return &apiError{
			status: http.StatusUnauthorized, typ: "invalid_request_error", code: `"invalid_api_key"`,
			msg: "Incorrect API key provided: sk-sim***. You can find your API key at https://platform.openai.com/account/api-keys.",
		}
	case fault403:
		return &apiError{
			status: http.StatusForbidden, typ: "request_forbidden", code: `"unsupported_country_region_territory"`,
			msg: "Country, region, or territory not supported",
		}
	case fault404:
		return &apiError{
			status: http.StatusNotFound, typ: "invalid_request_error", code: `"model_not_found"`,
			msg: "The model `" + model + "` does not exist or you do not have access to it.",
		}
	case fault429:
		h := http.Header{
			"Retry-After":                    {"1"},
			"X-Ratelimit-Limit-Requests":     {"60"},
			"X-Ratelimit-Remaining-Requests": {"0"},
			"X-Ratelimit-Reset-Requests":     {"1s"},
			"X-Ratelimit-Limit-Tokens":       {"150000"},
			"X-Ratelimit-Remaining-Tokens":   {"149984"},
			"X-Ratelimit-Reset-Tokens":       {"6ms"},
		}
		return &apiError{
			status: http.StatusTooManyRequests, typ: "requests", code: `"rate_limit_exceeded"`, header: h,
			msg: "Rate limit reached for " + model + " in organization org-sim on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.",
		}
	case fault500:
		return serverError()
	case fault502:
		return &apiError{status: http.StatusBadGateway, typ: "cf_bad_gateway", code: "502", msg: "Bad gateway."}
	case fault503:
		return &apiError{
			status: http.StatusServiceUnavailable, typ: "server_error",
			msg: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists.",
		}
	}
	return nil
}

func serverError() *apiError {
	return &apiError{
		status: http.StatusInternalServerError, typ: "server_error",
		msg: "The server had an error while processing your request. Sorry about that!",
	}
}

// streamErrorEvent is the in-band error OpenAI sends when generation fails
// after the 200 and some chunks have gone out.
const streamErrorEvent = `data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":500}}` + "\n\n"

func statusLine(code int) string {
	switch code {
	case 200:
		return "200 OK"
	case 400:
		return "400 Bad Request"
	case 404:
		return "404 Not Found"
	case 429:
		return "429 Too Many Requests"
	case 500:
		return "500 Internal Server Error"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// jsonResponse wraps a complete body. Extra headers are copied so that a
// caller editing the response cannot reach shared state.
func jsonResponse(req *http.Request, status int, body []byte, extra http.Header) *http.Response {
	// One allocation for the response and its body, one for both header
	// values: the fast model's budget is counted in allocations.
	r := &struct {
		resp http.Response
		body bytesBody
		vals [2]string
	}{}
	r.vals[0], r.vals[1] = "application/json", requestID()
	h := make(http.Header, 2+len(extra))
	h["Content-Type"] = r.vals[0:1:1]
	h["X-Request-Id"] = r.vals[1:2:2]
	for k, v := range extra {
		h[k] = append([]string(nil), v...)
	}
	r.body = bytesBody{data: body, ctx: req.Context()}
	r.resp = http.Response{
		Status:        statusLine(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          &r.body,
		ContentLength: int64(len(body)),
		Request:       req,
	}
	return &r.resp
}

// requestID is an x-request-id in OpenAI's "req_" + 32 characters form.
func requestID() string {
	var b [36]byte
	return string(appendRandomID(append(b[:0], "req_"...), 32))
}
