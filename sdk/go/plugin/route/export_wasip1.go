//go:build wasip1

package route

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport hook_route
func export(in string) uint64 { return guest.Export(guest.Route, in) }
