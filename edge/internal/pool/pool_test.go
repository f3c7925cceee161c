package pool

import "testing"

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
