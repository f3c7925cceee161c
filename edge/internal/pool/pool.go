// Package pool owns the node's reusable byte buffers: request bodies, upstream responses and
// stream read buffers. Reusing them keeps the per-request garbage of the hot path near zero.
//
// Buffers come in size classes, so the common small body takes a small buffer and a rare
// large one does not make every later request carry its size. Buffers that grew past the
// largest class are dropped instead of returned, so one huge body does not pin memory for
// the life of the process.
package pool

import (
	"errors"
	"io"
	"sync"
)

// Size classes. Most chat bodies and responses fit the smallest.
var classes = [...]int{4 << 10, 32 << 10, 256 << 10, 1 << 20}

var bodies [len(classes)]sync.Pool

func init() {
	for i, size := range classes {
		bodies[i].New = func() any { b := make([]byte, 0, size); return &b }
	}
}

// StreamBuf is the read buffer of one upstream event stream's decoder, held for the life of
// a stream. It matches the connection's read buffer: the relay flushes when the decoder has
// no complete event left, so a smaller buffer would split what one upstream read delivered
// into several client writes (measured: 3.75 against 2.5 µs per event at 1 KiB). 4 KiB
// keeps ten thousand streams at 40 MiB.
const StreamBuf = 4 << 10

var streams = sync.Pool{New: func() any { b := make([]byte, StreamBuf); return &b }}

// Get returns an empty buffer of the smallest class.
func Get() *[]byte { return GetSize(0) }

// GetSize returns an empty buffer with capacity for at least n bytes (n beyond the largest
// class gets the largest, which the caller grows).
func GetSize(n int) *[]byte {
	for i, size := range classes {
		if n <= size || i == len(classes)-1 {
			b := bodies[i].Get().(*[]byte)
			*b = (*b)[:0]
			return b
		}
	}
	panic("unreachable")
}

// Put returns a buffer to the class its capacity fits. The caller must not use it afterwards.
func Put(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	for i := len(classes) - 1; i >= 0; i-- {
		if c >= classes[i] {
			// Appends grow buffers by doubling, so a grown buffer is at most twice its
			// class; anything larger is an outlier not worth keeping.
			if c <= 2*classes[i] {
				bodies[i].Put(b)
			}
			return
		}
	}
}

// GetStream returns a StreamBuf-sized read buffer.
func GetStream() *[]byte { return streams.Get().(*[]byte) }

// PutStream returns a buffer from GetStream; a buffer that grew is dropped.
func PutStream(b *[]byte) {
	if b == nil || len(*b) != StreamBuf {
		return
	}
	streams.Put(b)
}

// ErrTooLarge is returned by ReadAll when the input passes its limit.
var ErrTooLarge = errors.New("pool: input larger than the limit")

// ReadAll reads r to its end into *buf, growing it as needed (the grown buffer is stored back
// in *buf so Put can recycle it), and fails with ErrTooLarge past limit bytes. It returns the
// bytes read; on error it returns what it read so far.
func ReadAll(r io.Reader, buf *[]byte, limit int64) ([]byte, error) {
	b := (*buf)[:0]
	defer func() { *buf = b }()
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return b, ErrTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
