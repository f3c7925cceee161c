// Package request exports hook_request and registers its handler, which transforms the request body the client sent (OpenAI-shaped JSON), before routing (sdk/ABI.md §5).
package request

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

func init() { guest.Declare(guest.Request) }

// Handle registers fn as the hook_request handler. fn returns the new body, or nil to leave the
// body unchanged: the host then skips copying, so a transform that usually does nothing
// should return nil rather than its input. body is a read-only view valid only during the
// call; the result must be valid JSON. An error fails the call with the §6 error object,
// and the plugin's failure policy (fail open or closed) applies.
func Handle(fn func(body []byte) ([]byte, error)) { guest.Set(guest.Request, fn) }
