//go:build wasip1

// Command goplugin is a Go (wasip1 reactor) plugin used by the wasmhost tests: the same
// uppercasing echo as echo.wat, exported with //go:wasmexport.
package main

import (
	"bytes"
	"unsafe"
)

// live roots every buffer handed to the host until plugin_free: the Go GC does not move
// objects but frees unreachable ones.
var live = map[uint32][]byte{}

func hand(b []byte) uint32 {
	if len(b) == 0 {
		b = make([]byte, 1)
	}
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	live[p] = b
	return p
}

//go:wasmexport plugin_abi_v1
func pluginABIv1() {}

//go:wasmexport plugin_alloc
func pluginAlloc(size uint32) uint32 { return hand(make([]byte, size)) }

//go:wasmexport plugin_free
func pluginFree(ptr, size uint32) { delete(live, ptr) }

func result(b []byte) uint64 { return uint64(hand(b))<<32 | uint64(len(b)) }

//go:wasmexport plugin_info
func pluginInfo() uint64 {
	return result([]byte(`{"name":"goecho","version":"1.0.0","hooks":["hook_request"],"description":"Go echo"}`))
}

//go:wasmexport hook_request
func hookRequest(ptr, n uint32) uint64 {
	in := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), n)
	return result(bytes.ToUpper(in))
}

func main() {}
