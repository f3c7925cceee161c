package pool

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		wantCap int
	}{
		{"small", 100, 4 << 10},
		{"exact class", 4 << 10, 4 << 10},
		{"medium", 5000, 32 << 10},
		{"large", 300 << 10, 1 << 20},
		{"beyond the largest", 8 << 20, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := GetSize(tt.n)
			if len(*b) != 0 || cap(*b) < tt.wantCap {
				t.Fatalf("GetSize(%d): len %d cap %d, want empty with cap ≥ %d", tt.n, len(*b), cap(*b), tt.wantCap)
			}
			Put(b)
		})
	}
}

func TestPutDropsOversized(t *testing.T) {
	big := make([]byte, 0, 8<<20)
	Put(&big) // must not panic, and must not be handed out again
	for range 100 {
		if b := GetSize(1 << 20); cap(*b) > 2<<20 {
			t.Fatalf("an oversized buffer (cap %d) came back from the pool", cap(*b))
		}
	}
	odd := make([]byte, 0, 100) // smaller than every class: dropped
	Put(&odd)
	if b := Get(); cap(*b) < 4<<10 {
		t.Fatalf("Get returned cap %d", cap(*b))
	}
}

func TestStreamBuffers(t *testing.T) {
	b := GetStream()
	if len(*b) != StreamBuf {
		t.Fatalf("len %d", len(*b))
	}
	PutStream(b)
	grown := make([]byte, 2*StreamBuf)
	PutStream(&grown) // dropped
	if b := GetStream(); len(*b) != StreamBuf {
		t.Fatalf("a grown stream buffer came back: len %d", len(*b))
	}
}

func TestReadAll(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int64
		err   error
	}{
		{"empty", "", 10, nil},
		{"fits", "hello", 10, nil},
		{"grows past the buffer", strings.Repeat("x", 10000), 1 << 20, nil},
		{"exactly the limit", "12345", 5, nil},
		{"over the limit", "123456", 5, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := Get()
			got, err := ReadAll(iotest.OneByteReader(strings.NewReader(tt.in)), buf, tt.limit)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && string(got) != tt.in {
				t.Fatalf("read %d bytes, want %d", len(got), len(tt.in))
			}
			if cap(*buf) < len(got) {
				t.Fatal("the grown buffer was not stored back")
			}
			Put(buf)
		})
	}
	boom := errors.New("boom")
	if _, err := ReadAll(iotest.ErrReader(boom), Get(), 10); err != boom {
		t.Fatalf("err = %v", err)
	}
}
