// Package weighted owns the first-party "weighted" route plugin: weighted.c, built to
// plugins/dist/route-weighted.wasm, which scores each candidate on price, time to first
// token and error rate (with a preferred-region bonus and a degraded penalty) and drops open
// circuits. The Go code here is its tests and benchmark; they run the built module in
// edge/wasmhost.
package weighted
