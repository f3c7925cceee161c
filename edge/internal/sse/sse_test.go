package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type event struct{ typ, data string }

func decodeAll(t testing.TB, r io.Reader) ([]event, error) {
	d := NewDecoder(r, make([]byte, 16))
	var out []event
	for {
		data, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, event{string(d.Event()), string(data)})
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []event
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []event{{"", `{"a":1}`}, {"", "[DONE]"}}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []event{{"", "x"}, {"", "y"}}},
		{"cr only", "data: x\r\rdata: y\r\r", []event{{"", "x"}, {"", "y"}}},
		{"no space after colon", "data:x\n\n", []event{{"", "x"}}},
		{"only first space stripped", "data:  x\n\n", []event{{"", " x"}}},
		{"multi-line data", "data: a\ndata: b\n\n", []event{{"", "a\nb"}}},
		{"comments skipped", ": keep-alive\n\n: OPENROUTER PROCESSING\n\ndata: x\n\n", []event{{"", "x"}}},
		{"event type", "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\ndata: plain\n\n", []event{{"message_start", "{}"}, {"ping", "{}"}, {"", "plain"}}},
		{"events without data skipped", "event: x\n\nid: 3\nretry: 10\n\ndata: y\n\n", []event{{"", "y"}}},
		{"field without colon", "data\n\n", []event{{"", ""}}},
		{"final event without blank line", "data: a\n\ndata: b\n", []event{{"", "a"}, {"", "b"}}},
		{"truncated last line dropped", "data: a\n\ndata: b", []event{{"", "a"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "one byte"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.in)
				if mode == "one byte" {
					r = iotest.OneByteReader(r)
				}
				got, err := decodeAll(t, r)
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("event %d = %q, want %q", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

func TestBuffered(t *testing.T) {
	pr, pw := io.Pipe()
	d := NewDecoder(pr, nil)
	go func() {
		pw.Write([]byte("data: 1\n\ndata: 2\n\ndata: 3"))
		pw.Write([]byte("\n\n"))
		pw.Close()
	}()
	if ev, err := d.Next(); err != nil || string(ev) != "1" {
		t.Fatalf("first: %q %v", ev, err)
	}
	if !d.Buffered() {
		t.Fatal("second event is buffered, Buffered() = false")
	}
	if ev, _ := d.Next(); string(ev) != "2" {
		t.Fatalf("second: %q", ev)
	}
	if d.Buffered() {
		t.Fatal("third event is incomplete, Buffered() = true")
	}
	if ev, _ := d.Next(); string(ev) != "3" {
		t.Fatalf("third: %q", ev)
	}
}

func TestBufferedCRLFSplit(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: a\r\n\r\ndata: b\r\n\r\n"), nil)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if !d.Buffered() {
		t.Fatal("CRLF-framed event not seen as buffered")
	}
}

func TestEventTooLarge(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), make([]byte, 8))
	d.SetMaxEvent(32)
	if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
}

func TestReadErrorSurfaces(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)), nil)
	if ev, err := d.Next(); err != nil || string(ev) != "a" {
		t.Fatalf("first: %q %v", ev, err)
	}
	if _, err := d.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestAppendDataRoundTrip(t *testing.T) {
	for _, p := range []string{`{"a":1}`, "line1\nline2", "cr\rlf\r\nend", "", "\n"} {
		enc := AppendData(nil, []byte(p))
		got, err := decodeAll(t, bytes.NewReader(enc))
		if err != io.EOF || len(got) != 1 {
			t.Fatalf("%q -> %q: %v %v", p, enc, got, err)
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(p)
		if got[0].data != want {
			t.Fatalf("round trip of %q gave %q", p, got[0].data)
		}
	}
	if s := string(AppendComment(nil, "keep-alive")); s != ": keep-alive\n\n" {
		t.Fatalf("comment = %q", s)
	}
	if s := string(AppendDone(nil)); s != "data: [DONE]\n\n" {
		t.Fatalf("done = %q", s)
	}
}

// reference decodes a whole stream the simple way, for the fuzz test.
func reference(in []byte) []string {
	s := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(in))
	lines := strings.Split(s, "\n")
	complete := strings.HasSuffix(s, "\n")
	if !complete {
		lines = lines[:len(lines)-1]
	} else {
		lines = lines[:len(lines)-1]
	}
	var out []string
	var data []string
	has := false
	for _, l := range lines {
		if l == "" {
			if has {
				out = append(out, strings.Join(data, "\n"))
			}
			data, has = nil, false
			continue
		}
		if l[0] == ':' {
			continue
		}
		f, v, found := strings.Cut(l, ":")
		if !found {
			v = ""
		}
		v = strings.TrimPrefix(v, " ")
		if f == "data" {
			data = append(data, v)
			has = true
		}
	}
	if has {
		out = append(out, strings.Join(data, "\n"))
	}
	return out
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), uint8(3))
	f.Add([]byte("event: x\r\ndata: a\r\ndata: b\r\n\r\n: c\r\r"), uint8(1))
	f.Add([]byte("data\n\ndata:\n\n\n"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		n := int(chunk%16) + 1
		got, err := decodeAll(t, iotest.HalfReader(&chunked{b: in, n: n}))
		if err != io.EOF {
			t.Fatalf("err = %v", err)
		}
		want := reference(in)
		if len(got) != len(want) {
			t.Fatalf("input %q: got %d events %q, want %d %q", in, len(got), got, len(want), want)
		}
		for i := range got {
			if got[i].data != want[i] {
				t.Fatalf("input %q: event %d = %q, want %q", in, i, got[i].data, want[i])
			}
		}
	})
}

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

func BenchmarkDecodeOpenAIStream(b *testing.B) {
	chunk := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hello "},"logprobs":null,"finish_reason":null}]}`
	var stream []byte
	for range 20 {
		stream = AppendData(stream, []byte(chunk))
	}
	stream = AppendDone(stream)
	r := bytes.NewReader(stream)
	d := NewDecoder(r, make([]byte, 4096))
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		d.Reset(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
