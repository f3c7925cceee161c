package llm

import (
	"errors"
	"fmt"
	"net/http"
)

// Error types, in the spirit of OpenAI's error.type; they tell an SDK what kind of failure it saw.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeNotFound       = "not_found_error"
	TypeTooLarge       = "request_too_large"
	TypeRateLimit      = "rate_limit_error"
	TypeTimeout        = "timeout_error"
	TypeUpstream       = "upstream_error"
	TypeServer         = "server_error"
	TypeUnavailable    = "service_unavailable"
)

// Error is a failure the node reports to its client: the HTTP status, a message meant for
// people, and OpenRouter-style metadata. It is written as
// {"error":{"code":Status,"message":..,"type":..,"param":..,"metadata":{..}}}.
type Error struct {
	// Status is the HTTP status code, also written as error.code.
	Status int
	// Type classifies the failure (one of the Type constants).
	Type string
	// Message says what went wrong and, where it helps, what to do.
	Message string
	// Param names the request field at fault, when there is one.
	Param string
	// Provider is the display name of the upstream that failed, for upstream errors.
	Provider string
	// Raw is the upstream's own error message, passed on verbatim (metadata.raw).
	Raw string
	// RetryAfter is the upstream's Retry-After value, passed on to the client.
	RetryAfter string
	// Attempts lists every endpoint tried before giving up (metadata.attempts).
	Attempts []Attempt
	// Err is the underlying cause, for logs; it is never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// BadRequest reports a request the client must fix; param names the field at fault.
func BadRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping anything else as a 500 so no failure reaches a
// client without a status.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Message: "internal error", Err: err}
}

// Attempt is one try of one endpoint, as reported to a client whose request failed.
type Attempt struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
	// Status is the HTTP status the attempt ended with (0 when it was never sent).
	Status int    `json:"status"`
	Reason string `json:"reason"`
}
