// Package anthropic owns the first-party Anthropic format plugin: anthropic.c, built to
// plugins/dist/format-anthropic.wasm, which implements the four hook_format_* hooks of
// sdk/ABI.md between OpenAI chat completions and the Anthropic Messages API. The Go code here
// is its tests, fixtures and benchmarks; they run the built module in edge/wasmhost.
package anthropic
