//go:build wasip1

package guest

import "unsafe"

// live roots every buffer handed to the host until plugin_free: Go's GC does not move
// objects, but it frees unreachable ones, and the host's pointer is invisible to it.
var live = map[uint32]buffer{}

// buffer is a live buffer; alloc marks those plugin_alloc made, the only ones plugin_free
// may recycle: a result can alias memory the plugin still uses (a cached answer), and
// handing that out as the next input buffer would let the host overwrite it.
type buffer struct {
	b     []byte
	alloc bool
}

// zero backs empty allocations, so plugin_alloc(0) returns a valid non-zero pointer (0
// means failure) without rooting anything.
var zero [1]byte

func hand(b []byte, alloc bool) uint32 {
	if len(b) == 0 {
		return uint32(uintptr(unsafe.Pointer(&zero[0])))
	}
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	live[p] = buffer{b, alloc}
	return p
}

//go:wasmexport plugin_abi_v1
func pluginABIv1() {}

// spare holds buffers the host has freed, for plugin_alloc to hand out again. The host
// allocates an input buffer on every call; inside wasm each fresh allocation feeds the
// guest's garbage collector, whose mark work lands on later calls, so recycling the input
// buffer was the largest saving per call. A recycled buffer's old bytes are never visible:
// the host overwrites all size bytes it asked for.
var spare [][]byte

const (
	maxSpare    = 4
	maxSpareCap = 256 << 10
)

//go:wasmexport plugin_alloc
func pluginAlloc(size uint32) uint32 {
	for i, b := range spare {
		if uint32(cap(b)) >= size && size > 0 {
			spare[i] = spare[len(spare)-1]
			spare[len(spare)-1] = nil
			spare = spare[:len(spare)-1]
			return hand(b[:size], true)
		}
	}
	return hand(make([]byte, size), true)
}

// pluginFree ignores pointers it did not hand out (sdk/ABI.md §3 allows that for static
// data), so a stray free cannot corrupt anything.
//
//go:wasmexport plugin_free
func pluginFree(ptr, size uint32) {
	b, ok := live[ptr]
	if !ok {
		return
	}
	delete(live, ptr)
	if b.alloc && len(spare) < maxSpare && cap(b.b) <= maxSpareCap {
		spare = append(spare, b.b)
	}
}

//go:wasmexport plugin_info
func pluginInfo() uint64 { return result(InfoJSON()) }

func result(b []byte) uint64 {
	if b == nil {
		return 0
	}
	return uint64(hand(b, false))<<32 | uint64(len(b))
}

// Export is the body of every hook export. The export takes its input as a string
// parameter, which //go:wasmexport lowers to (ptr i32, len i32): a view of the host's
// buffer, not a copy, so the handler must not keep it.
func Export(hook int, in string) uint64 {
	b := unsafe.Slice(unsafe.StringData(in), len(in))
	out := Dispatch(hook, b)
	// A handler may return its input (or a slice of it) as output; the ABI forbids handing
	// the host a pointer into its own input buffer, so such output is copied.
	if len(out) > 0 && len(b) > 0 {
		o, s := uintptr(unsafe.Pointer(&out[0])), uintptr(unsafe.Pointer(&b[0]))
		if o >= s && o < s+uintptr(len(b)) {
			out = append([]byte(nil), out...)
		}
	}
	return result(out)
}
