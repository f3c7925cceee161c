// Package response exports hook_response and registers its handler, which transforms a non-streamed response body, before it goes to the client (sdk/ABI.md §5).
package response

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

func init() { guest.Declare(guest.Response) }

// Handle registers fn as the hook_response handler. fn returns the new body, or nil to leave the
// body unchanged: the host then skips copying, so a transform that usually does nothing
// should return nil rather than its input. body is a read-only view valid only during the
// call; the result must be valid JSON. An error fails the call with the §6 error object,
// and the plugin's failure policy (fail open or closed) applies.
func Handle(fn func(body []byte) ([]byte, error)) { guest.Set(guest.Response, fn) }
