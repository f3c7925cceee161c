//go:build wasip1

package format

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport hook_format_request
func exportRequest(in string) uint64 { return guest.Export(guest.FormatRequest, in) }

//go:wasmexport hook_format_response
func exportResponse(in string) uint64 { return guest.Export(guest.FormatResponse, in) }

//go:wasmexport hook_format_stream
func exportStream(in string) uint64 { return guest.Export(guest.FormatStream, in) }

//go:wasmexport hook_format_error
func exportError(in string) uint64 { return guest.Export(guest.FormatError, in) }
