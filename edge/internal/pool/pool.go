// Package pool owns the node's reusable byte buffers: request bodies, upstream responses and
// stream read buffers. Reusing them keeps the per-request garbage of the hot path near zero.
//
// Buffers that grew past a bound are dropped instead of returned, so one huge body does not
// pin memory for the life of the process.
package pool

import "sync"

const (
	// Small is the initial capacity of a body buffer: most chat bodies and responses fit.
	Small = 16 << 10
	// StreamBuf is the read buffer of one upstream event stream. It is held for the life of a
	// stream, so it stays small enough for tens of thousands of concurrent streams.
	StreamBuf = 4 << 10
	// maxKeep is the largest buffer returned to the pool.
	maxKeep = 1 << 20
)

var bodies = sync.Pool{New: func() any { b := make([]byte, 0, Small); return &b }}

var streams = sync.Pool{New: func() any { b := make([]byte, StreamBuf); return &b }}

// Get returns an empty buffer with at least Small capacity.
func Get() *[]byte {
	b := bodies.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// Put returns a buffer from Get. The caller must not use it afterwards.
func Put(b *[]byte) {
	if b == nil || cap(*b) > maxKeep {
		return
	}
	bodies.Put(b)
}

// GetStream returns a StreamBuf-sized read buffer.
func GetStream() *[]byte { return streams.Get().(*[]byte) }

// PutStream returns a buffer from GetStream.
func PutStream(b *[]byte) {
	if b == nil || len(*b) != StreamBuf {
		return
	}
	streams.Put(b)
}
