// Package plugins holds the first-party WebAssembly plugins' sources (one folder each under
// format/, route/ and transform/) and embeds the built format plugins, so the node can
// serve providers such as Anthropic and Gemini without any plugin file on disk. Plugin code
// imports only sdk/...; the embedded modules run in the node's sandbox like any other.
package plugins

import (
	"embed"
	"io/fs"
	"strings"
)

// The format plugins are committed build output (dist/README.md says why); the other
// plugins built into dist are loaded from their files like any plugin, so they are not
// embedded.
//
//go:embed dist/README.md dist/format-*.wasm
var dist embed.FS

// Format returns the built-in format plugin of that name ("anthropic" is
// dist/format-anthropic.wasm).
func Format(name string) ([]byte, bool) {
	b, err := dist.ReadFile("dist/format-" + name + ".wasm")
	return b, err == nil
}

// Formats lists the built-in format plugins by name.
func Formats() []string {
	var names []string
	entries, _ := fs.ReadDir(dist, "dist")
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "format-") && strings.HasSuffix(n, ".wasm") {
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(n, "format-"), ".wasm"))
		}
	}
	return names
}
