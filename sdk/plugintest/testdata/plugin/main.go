// Command plugin is plugintest's fixture compiled to wasm for the harness's "wasm" runs.
package main

import _ "github.com/crossroads-llm/crossroads/sdk/plugintest/internal/testplugin"

func main() {}
