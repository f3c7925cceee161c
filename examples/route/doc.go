// Package route holds the example routing plugin, "fastest-healthy", written the same way
// in Go, C, AssemblyScript and WAT (one folder each, built to plugin.wasm), and the test that
// loads all four into the node's sandbox and holds them to one behaviour and one benchmark.
package route
