//go:build wasip1

package request

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport hook_request
func export(in string) uint64 { return guest.Export(guest.Request, in) }
