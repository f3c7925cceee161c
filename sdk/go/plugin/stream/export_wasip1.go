//go:build wasip1

package stream

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport hook_stream
func export(in string) uint64 { return guest.Export(guest.Stream, in) }

//go:wasmexport hook_stream_end
func exportEnd(in string) uint64 { return guest.Export(guest.StreamEnd, in) }
