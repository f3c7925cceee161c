//go:build wasip1

package config

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

//go:wasmexport plugin_init
func pluginInit(in string) uint64 { return guest.Export(guest.Init, in) }
