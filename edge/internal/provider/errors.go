package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// TransportError classifies a failure to reach the upstream or to read from it. parent is
// the caller's context, ctx the one carrying this provider's timeout: when the caller is
// gone its error is returned as is, since nobody is left to read a status.
func TransportError(name string, parent, ctx context.Context, err error) error {
	if perr := parent.Err(); perr != nil {
		return perr
	}
	var nerr net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return &llm.Error{Status: http.StatusRequestTimeout, Type: llm.TypeTimeout, Provider: name,
			Message: fmt.Sprintf("upstream %s did not answer in time", name), Raw: err.Error(), Err: err}
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: name,
		Message: fmt.Sprintf("upstream %s is unreachable or broke the connection", name), Raw: err.Error(), Err: err}
}

// StatusError maps an upstream's non-200 answer. The client sees a status that tells it
// what to do: fix its request (4xx), back off (429), or retry elsewhere (502), with the
// upstream's own words under metadata.raw.
func StatusError(name string, code int, msg, retryAfter string) *llm.Error {
	e := &llm.Error{Provider: name, Raw: msg, RetryAfter: retryAfter}
	switch {
	case code == http.StatusTooManyRequests:
		e.Status, e.Type = code, llm.TypeRateLimit
		e.Message = fmt.Sprintf("upstream %s is rate limiting requests (HTTP 429)", name)
	case code == http.StatusRequestTimeout:
		e.Status, e.Type = code, llm.TypeTimeout
		e.Message = fmt.Sprintf("upstream %s timed out (HTTP 408)", name)
	case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusRequestEntityTooLarge || code == http.StatusUnprocessableEntity:
		// The request itself is at fault (context too long, bad parameter for this model):
		// the upstream's explanation is the useful message.
		e.Status, e.Type = code, llm.TypeInvalidRequest
		e.Message = fmt.Sprintf("upstream %s rejected the request (HTTP %d): %s", name, code, msg)
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusPaymentRequired:
		// The node's credentials for this provider are wrong or exhausted; not the client's fault.
		e.Status, e.Type = http.StatusBadGateway, llm.TypeUpstream
		e.Message = fmt.Sprintf("upstream %s refused the node's credentials (HTTP %d); check the provider's api_key", name, code)
	default:
		e.Status, e.Type = http.StatusBadGateway, llm.TypeUpstream
		e.Message = fmt.Sprintf("upstream %s failed (HTTP %d)", name, code)
	}
	return e
}
