// Package gemini owns the first-party Gemini format plugin: gemini.c, built to
// plugins/dist/format-gemini.wasm, which implements the four hook_format_* hooks of
// sdk/ABI.md between OpenAI chat completions and Google's Gemini generateContent API. The Go
// code here is its tests, fixtures and benchmarks; they run the built module in
// edge/wasmhost and, end to end, against bench/fakeupstream/gemini.
package gemini
