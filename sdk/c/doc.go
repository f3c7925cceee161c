// Package csdk owns the C plugin SDK: crossroads.h, the single header C plugins include to
// export ABI v1 (sdk/ABI.md), read untrusted JSON without copying and write JSON results. The
// package has no Go API; its tests compile small C plugins against the header with clang-14
// and run them in edge/wasmhost.
package csdk
