//go:build wasip1

package response

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport hook_response
func export(in string) uint64 { return guest.Export(guest.Response, in) }
