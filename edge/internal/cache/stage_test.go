package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
)

// upstream plays the rest of the chain behind the cache: each call gets what answer returns
// for it, and every call is counted.
type upstream struct {
	calls  atomic.Int32
	answer func(ctx context.Context, call int, req *llm.Request) (*llm.Response, error)
}

func (u *upstream) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return u.answer(ctx, int(u.calls.Add(1)), req)
}

// events is an upstream stream: its events, then how it ends (nil: [DONE]). gate, when
// set, holds every event after the first until it closes.
type events struct {
	ctx  context.Context
	evs  []string
	end  error
	gate chan struct{}
	i    int
	// cut counts Next calls the context cancelled.
	cut *atomic.Int32
}

func (s *events) Next() ([]byte, error) {
	if s.i > 0 && s.gate != nil {
		select {
		case <-s.gate:
		case <-s.ctx.Done():
			if s.cut != nil {
				s.cut.Add(1)
			}
			return nil, s.ctx.Err()
		}
	}
	if s.i < len(s.evs) {
		s.i++
		return []byte(s.evs[s.i-1]), nil
	}
	if s.end != nil {
		return nil, s.end
	}
	return []byte("[DONE]"), nil
}
func (s *events) Buffered() bool { return false }
func (s *events) Close() error   { return nil }

var price = llm.Price{Prompt: 1e-6, Completion: 2e-6}

func streamed(evs []string, end error) func(context.Context, int, *llm.Request) (*llm.Response, error) {
	return func(ctx context.Context, _ int, _ *llm.Request) (*llm.Response, error) {
		return &llm.Response{Stream: &events{ctx: ctx, evs: evs, end: end}, Provider: "P", Model: "m", Price: price}, nil
	}
}

func bodied(body string) func(context.Context, int, *llm.Request) (*llm.Response, error) {
	return func(context.Context, int, *llm.Request) (*llm.Response, error) {
		return &llm.Response{Body: []byte(body), Provider: "P", Model: "m", Price: price}, nil
	}
}

const (
	coldBody = `{"model":"m","messages":[{"role":"user","content":"weather in Paris?"}],"temperature":0}`
	hotBody  = `{"model":"m","messages":[{"role":"user","content":"weather in Paris?"}],"temperature":0.9}`
)

func newStage(t *testing.T, sc StageConfig, u *upstream) (*Cache, pipeline.Handler) {
	t.Helper()
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{L1: m})
	if sc.Resolve == nil {
		sc.Resolve = func(id string) (string, bool) { return id, true }
	}
	return c, c.Stage(sc)(u)
}

func request(body string, stream bool, hdr ...string) *llm.Request {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &llm.Request{Body: []byte(body), Model: "m", Stream: stream, Header: h,
		Deterministic: strings.Contains(body, `"temperature":0,`) || strings.Contains(body, `"temperature":0}`)}
}

// collect reads a response to the end: the stream's events, or the body.
func collect(t *testing.T, resp *llm.Response) ([]string, error) {
	t.Helper()
	defer resp.Close()
	if resp.Stream == nil {
		return []string{string(resp.Body)}, nil
	}
	var got []string
	for {
		ev, err := resp.Stream.Next()
		if err != nil {
			return got, err
		}
		if string(ev) == "[DONE]" {
			return got, nil
		}
		got = append(got, string(ev))
	}
}

func serve(t *testing.T, h pipeline.Handler, req *llm.Request) (*llm.Response, []string) {
	t.Helper()
	resp, err := h.Serve(context.Background(), req)
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	got, err := collect(t, resp)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return resp, got
}

// TestStageServesRepeats: the first request goes upstream, the repeat is answered from the
// cache with the same content, in the form the repeat asks for.
func TestStageServesRepeats(t *testing.T) {
	tests := []struct {
		name                string
		recordAs, askStream bool
		want                func(t *testing.T, got []string)
	}{
		{"stream from stream", true, true, func(t *testing.T, got []string) {
			if !reflect.DeepEqual(got, recorded) {
				t.Fatalf("replayed %q\nwant %q", got, recorded)
			}
		}},
		{"body from stream", true, false, func(t *testing.T, got []string) {
			if !reflect.DeepEqual(decode(t, []byte(got[0])), decode(t, []byte(assembled))) {
				t.Fatalf("body %s", got[0])
			}
		}},
		{"body from body", false, false, func(t *testing.T, got []string) {
			if got[0] != assembled {
				t.Fatalf("body %s", got[0])
			}
		}},
		{"stream from body", false, true, func(t *testing.T, got []string) {
			again, err := Assemble(bytesOf(got))
			if err != nil || !reflect.DeepEqual(decode(t, again), decode(t, []byte(assembled))) {
				t.Fatalf("synthesised chunks %q assemble to %s (%v)", got, again, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upstream{answer: bodied(assembled)}
			if tt.recordAs {
				u.answer = streamed(recorded, nil)
			}
			_, h := newStage(t, StageConfig{}, u)
			first, _ := serve(t, h, request(coldBody, tt.recordAs))
			if first.Cache != llm.CacheMiss {
				t.Fatalf("first answer: cache %q, want MISS", first.Cache)
			}
			time.Sleep(10 * time.Millisecond)
			resp, got := serve(t, h, request(coldBody, tt.askStream))
			if resp.Cache != llm.CacheHit || u.calls.Load() != 1 {
				t.Fatalf("repeat: cache %q after %d upstream calls, want HIT after 1", resp.Cache, u.calls.Load())
			}
			if resp.Provider != "P" || resp.Model != "m" || resp.Price != price || resp.Age < 10*time.Millisecond {
				t.Fatalf("hit metadata: %+v", resp)
			}
			tt.want(t, got)
		})
	}
}

// TestStagePolicy: what is looked up, stored, bypassed and refused, per request headers
// and configured rules.
func TestStagePolicy(t *testing.T) {
	type step struct {
		body   string
		hdr    []string
		want   llm.CacheStatus
		calls  int32 // upstream calls after this step
		status int   // of the error, 0 for none
	}
	rules := []Rule{
		{Models: []string{"off/*"}, Mode: ModeOff},
		{Keys: []string{"sk-always"}, Mode: ModeAlways},
		{Models: []string{"short/*"}, TTL: time.Second},
	}
	tests := []struct {
		name  string
		model string
		steps []step
	}{
		{"sampled requests bypass", "m", []step{{hotBody, nil, "", 1, 0}, {hotBody, nil, "", 2, 0}}},
		{"client opt-in", "m", []step{{hotBody, []string{HeaderCache, "true"}, llm.CacheMiss, 1, 0},
			{hotBody, []string{HeaderOpenRouter, "true"}, llm.CacheHit, 1, 0}}},
		{"opt-out", "m", []step{{coldBody, nil, llm.CacheMiss, 1, 0}, {coldBody, []string{HeaderCache, "false"}, "", 2, 0}}},
		{"no-cache refreshes", "m", []step{{coldBody, nil, llm.CacheMiss, 1, 0},
			{coldBody, []string{"Cache-Control", "no-cache"}, llm.CacheMiss, 2, 0}, {coldBody, nil, llm.CacheHit, 2, 0}}},
		{"no-store keeps nothing", "m", []step{{coldBody, []string{"Cache-Control", "no-store"}, llm.CacheMiss, 1, 0},
			{coldBody, nil, llm.CacheMiss, 2, 0}, {coldBody, nil, llm.CacheHit, 2, 0}}},
		{"clear evicts", "m", []step{{coldBody, nil, llm.CacheMiss, 1, 0},
			{coldBody, []string{HeaderClear, "true"}, llm.CacheMiss, 2, 0}, {coldBody, nil, llm.CacheHit, 2, 0}}},
		{"bad ttl is the client's error", "m", []step{{coldBody, []string{HeaderTTL, "0"}, "", 0, 400}}},
		{"rule turns the cache off for a model", "off/x", []step{{coldBody, nil, "", 1, 0}, {coldBody, nil, "", 2, 0}}},
		{"rule opts a key in", "m", []step{{hotBody, []string{"Authorization", "Bearer sk-always"}, llm.CacheMiss, 1, 0},
			{hotBody, []string{"Authorization", "Bearer sk-always"}, llm.CacheHit, 1, 0},
			{hotBody, []string{"Authorization", "Bearer sk-other"}, "", 2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upstream{answer: bodied(assembled)}
			_, h := newStage(t, StageConfig{Rules: rules}, u)
			for i, st := range tt.steps {
				req := request(st.body, false, st.hdr...)
				req.Model = tt.model
				resp, err := h.Serve(context.Background(), req)
				if st.status != 0 {
					var e *llm.Error
					if !errors.As(err, &e) || e.Status != st.status {
						t.Fatalf("step %d: err %v, want status %d", i, err, st.status)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				resp.Close()
				if resp.Cache != st.want || u.calls.Load() != st.calls {
					t.Fatalf("step %d: cache %q after %d calls, want %q after %d", i, resp.Cache, u.calls.Load(), st.want, st.calls)
				}
			}
		})
	}
}

// TestStageRuleTTL: a rule's TTL outlives nothing: the entry expires with it.
func TestStageRuleTTL(t *testing.T) {
	u := &upstream{answer: bodied(assembled)}
	_, h := newStage(t, StageConfig{Rules: []Rule{{Models: []string{"m"}, TTL: time.Second}}}, u)
	serve(t, h, request(coldBody, false))
	if resp, _ := serve(t, h, request(coldBody, false)); resp.Cache != llm.CacheHit {
		t.Fatalf("before expiry: %q", resp.Cache)
	}
	time.Sleep(1100 * time.Millisecond)
	if resp, _ := serve(t, h, request(coldBody, false)); resp.Cache != llm.CacheMiss || u.calls.Load() != 2 {
		t.Fatalf("after expiry: %q after %d calls", resp.Cache, u.calls.Load())
	}
}

// TestStageTenants: one key's entry never answers another key; shared scope is explicit.
func TestStageTenants(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			u := &upstream{answer: bodied(assembled)}
			_, h := newStage(t, StageConfig{Shared: shared}, u)
			serve(t, h, request(coldBody, false, "Authorization", "Bearer sk-a"))
			resp, _ := serve(t, h, request(coldBody, false, "Authorization", "Bearer sk-b"))
			want := llm.CacheMiss
			if shared {
				want = llm.CacheHit
			}
			if resp.Cache != want {
				t.Fatalf("key B after key A: %q, want %q", resp.Cache, want)
			}
			if resp, _ := serve(t, h, request(coldBody, false)); resp.Cache != map[bool]llm.CacheStatus{false: llm.CacheMiss, true: llm.CacheHit}[shared] {
				t.Fatalf("anonymous after keys: %q", resp.Cache)
			}
		})
	}
}

// TestStageStoresOnlyComplete: errors, cut streams and failed generations are relayed as
// they are and never stored.
func TestStageStoresOnlyComplete(t *testing.T) {
	fin := `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	tests := []struct {
		name    string
		answer  func(context.Context, int, *llm.Request) (*llm.Response, error)
		wantErr bool
	}{
		{"upstream error", func(context.Context, int, *llm.Request) (*llm.Response, error) {
			return nil, &llm.Error{Status: 502, Type: llm.TypeUpstream, Message: "down"}
		}, true},
		{"cut stream", streamed(recorded[:4], io.EOF), true},
		{"broken stream", streamed(recorded[:4], errors.New("reset")), true},
		{"finish_reason error", streamed([]string{recorded[0], `{"choices":[{"index":0,"delta":{},"finish_reason":"error"}]}`}, nil), false},
		{"in-band error", streamed([]string{recorded[0], `{"error":{"message":"overloaded"}}`, fin}, nil), false},
		{"never finished", streamed(recorded[:4], nil), false},
		{"body with error", bodied(`{"error":{"message":"x"},"choices":[{"index":0,"message":{},"finish_reason":"stop"}]}`), false},
		{"body without finish", bodied(`{"choices":[{"index":0,"message":{"content":"x"}}]}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upstream{answer: tt.answer}
			c, h := newStage(t, StageConfig{}, u)
			for i := range 2 {
				resp, err := h.Serve(context.Background(), request(coldBody, true))
				if err == nil {
					_, err = collect(t, resp)
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("call %d: err %v, want error %v", i, err, tt.wantErr)
				}
			}
			if u.calls.Load() != 2 || c.stored.Load() != 0 {
				t.Fatalf("%d upstream calls, %d stored; want 2 and 0", u.calls.Load(), c.stored.Load())
			}
		})
	}
}

// gated streams the recording, its events after the first held until gate opens, and
// counts the streams cancelled while they waited.
func gated(gate chan struct{}, cancelled *atomic.Int32) func(context.Context, int, *llm.Request) (*llm.Response, error) {
	return func(ctx context.Context, _ int, _ *llm.Request) (*llm.Response, error) {
		return &llm.Response{Stream: &events{ctx: ctx, evs: recorded, gate: gate, cut: cancelled}, Provider: "P", Model: "m", Price: price}, nil
	}
}

// TestStageCoalescesHundredStreams: 100 identical streams at once make one upstream call
// and all receive the recording, in order; the first caller leaving does not stop it.
func TestStageCoalescesHundredStreams(t *testing.T) {
	gate := make(chan struct{})
	var cancelled atomic.Int32
	u := &upstream{answer: gated(gate, &cancelled)}
	c, h := newStage(t, StageConfig{}, u)

	// The first caller starts the call and leaves after one event.
	lctx, leave := context.WithCancel(context.Background())
	first, err := h.Serve(lctx, request(coldBody, true))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := first.Stream.Next(); err != nil || string(ev) != recorded[0] {
		t.Fatalf("first event %q, %v", ev, err)
	}
	leave()
	if _, err := first.Stream.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("leader after leaving: %v", err)
	}
	first.Close()

	const n = 100
	var wg sync.WaitGroup
	got := make([][]string, n)
	status := make([]llm.CacheStatus, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.Serve(context.Background(), request(coldBody, true))
			if err != nil {
				t.Error(err)
				return
			}
			status[i] = resp.Cache
			got[i], err = collect(t, resp)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	for c.flights.InFlight() == 1 {
		f := c.anyFlight()
		if f == nil || f.Joined() == n+1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if u.calls.Load() != 1 {
		t.Fatalf("%d upstream calls, want 1", u.calls.Load())
	}
	for i := range n {
		if status[i] != llm.CacheCoalesced || !reflect.DeepEqual(got[i], recorded) {
			t.Fatalf("caller %d: %q, %q", i, status[i], got[i])
		}
	}
	if cancelled.Load() != 0 || c.stored.Load() != 1 {
		t.Fatalf("upstream cancelled %d times, %d stored; want 0 and 1", cancelled.Load(), c.stored.Load())
	}
	if resp, got := serve(t, h, request(coldBody, true)); resp.Cache != llm.CacheHit || !reflect.DeepEqual(got, recorded) {
		t.Fatalf("after the flight: %q %q", resp.Cache, got)
	}
}

func (c *Cache) anyFlight() *Flight {
	c.flights.mu.Lock()
	defer c.flights.mu.Unlock()
	for _, f := range c.flights.flights {
		return f
	}
	return nil
}

// TestStageCoalescedFailure: when the shared call fails, every waiter gets the error, and the
// next request tries again.
func TestStageCoalescedFailure(t *testing.T) {
	release := make(chan struct{})
	u := &upstream{}
	u.answer = func(ctx context.Context, call int, req *llm.Request) (*llm.Response, error) {
		if call == 1 {
			<-release
			return nil, &llm.Error{Status: 503, Type: llm.TypeUnavailable, Message: "every endpoint failed"}
		}
		return bodied(assembled)(ctx, call, req)
	}
	c, h := newStage(t, StageConfig{}, u)
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := h.Serve(context.Background(), request(coldBody, false))
			errs <- err
		}()
	}
	for f := c.anyFlight(); f == nil || f.Joined() < 10; f = c.anyFlight() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 10 {
		var e *llm.Error
		if err := <-errs; !errors.As(err, &e) || e.Status != 503 {
			t.Fatalf("waiter got %v, want the 503", err)
		}
	}
	if resp, _ := serve(t, h, request(coldBody, false)); resp.Cache != llm.CacheMiss || u.calls.Load() != 2 {
		t.Fatalf("retry: %q after %d calls", resp.Cache, u.calls.Load())
	}
}

// TestStageAbandonedCall: a call whose answer will not be stored stops when every waiter
// has left; one that will be stored goes on for the cache.
func TestStageAbandonedCall(t *testing.T) {
	for _, store := range []bool{false, true} {
		t.Run(fmt.Sprintf("store=%v", store), func(t *testing.T) {
			gate := make(chan struct{})
			var cancelled atomic.Int32
			u := &upstream{answer: gated(gate, &cancelled)}
			c, h := newStage(t, StageConfig{}, u)
			hdr := []string{}
			if !store {
				hdr = []string{"Cache-Control", "no-store"}
			}
			ctx, leave := context.WithCancel(context.Background())
			resp, err := h.Serve(ctx, request(coldBody, true, hdr...))
			if err != nil {
				t.Fatal(err)
			}
			leave()
			resp.Close()
			if !store {
				deadline := time.Now().Add(5 * time.Second)
				for cancelled.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if cancelled.Load() != 1 || c.flights.InFlight() != 0 {
					t.Fatalf("abandoned call: cancelled %d, flights %d", cancelled.Load(), c.flights.InFlight())
				}
				return
			}
			close(gate)
			for c.flights.InFlight() != 0 {
				time.Sleep(time.Millisecond)
			}
			if resp, _ := serve(t, h, request(coldBody, true)); resp.Cache != llm.CacheHit {
				t.Fatalf("after the call finished for the cache: %q", resp.Cache)
			}
		})
	}
}

// TestStageHammer: many goroutines, a few keys, both forms, under -race: every answer is
// the recording, and each key costs at most a few upstream calls.
func TestStageHammer(t *testing.T) {
	u := &upstream{answer: streamed(recorded, nil)}
	_, h := newStage(t, StageConfig{}, u)
	const keys, workers, per = 8, 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				k := (w + i) % keys
				body := strings.Replace(coldBody, "Paris", fmt.Sprintf("city %d", k), 1)
				stream := i%2 == 0
				resp, err := h.Serve(context.Background(), request(body, stream))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := collect(t, resp)
				if err != nil {
					t.Error(err)
					return
				}
				if stream && !reflect.DeepEqual(got, recorded) {
					t.Errorf("stream %q", got)
					return
				}
				if !stream && !reflect.DeepEqual(decode(t, []byte(got[0])), decode(t, []byte(assembled))) {
					t.Errorf("body %s", got[0])
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := u.calls.Load(); n < keys || n > keys*2 {
		t.Fatalf("%d upstream calls for %d keys", n, keys)
	}
}

func TestInspect(t *testing.T) {
	tests := []struct {
		name             string
		obj              string
		finished, failed bool
	}{
		{"delta", recorded[1], false, false},
		{"finish", recorded[8], true, false},
		{"usage", recorded[9], false, false},
		{"finish error", `{"choices":[{"finish_reason":"error"}]}`, true, true},
		{"error member", `{"error":{"message":"x"}}`, false, true},
		{"null error", `{"error":null,"choices":[{"finish_reason":"length"}]}`, true, false},
		{"not JSON", `{"choices":[`, false, true},
		{"finish in content is not a finish", `{"choices":[{"delta":{"content":"say \"finish_reason\":\"stop\""},"finish_reason":null}]}`, false, false},
		{"error in content is not an error", `{"choices":[{"delta":{"content":"\"error\": 1"},"finish_reason":"stop"}]}`, true, false},
		{"spaced finish", `{"choices":[{"finish_reason" : "stop"}]}`, true, false},
		{"spaced nested error", `{"choices":[{"finish_reason":"stop","x":{"error" :{}}}]}`, true, true},
		{"trailing garbage", `{"choices":[{"finish_reason":"stop"}]}x`, true, true},
		{"null finish", `{"choices":[{"finish_reason":null}]}`, false, false},
		{"nested error member", `{"choices":[{"finish_reason":"stop","content_filter":{"error":{"code":1}}}]}`, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, bad := inspect([]byte(tt.obj)); f != tt.finished || bad != tt.failed {
				t.Fatalf("inspect = %v, %v; want %v, %v", f, bad, tt.finished, tt.failed)
			}
		})
	}
}

// FuzzInspect: an upstream's bytes are untrusted; inspect never panics, and whatever it
// calls a complete, clean answer really is valid JSON with a finish_reason string member
// and no non-null error member anywhere.
func FuzzInspect(f *testing.F) {
	for _, r := range recorded {
		f.Add([]byte(r))
	}
	f.Add([]byte(assembled))
	f.Add([]byte(`{"error":{"message":"x"},"choices":[{"finish_reason":"stop"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		finished, failed := inspect(b)
		if !finished || failed {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON: %s", b)
		}
		// Walk the tokens rather than decode, so members with duplicate keys count too.
		dec := json.NewDecoder(bytes.NewReader(b))
		type frame struct{ obj, wantKey bool }
		var stack []frame
		var finish, errored bool
		key := ""
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			inObj := len(stack) > 0 && stack[len(stack)-1].obj
			if inObj && stack[len(stack)-1].wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
				} else {
					key = tok.(string)
					stack[len(stack)-1].wantKey = false
					continue
				}
			} else {
				if inObj {
					stack[len(stack)-1].wantKey = true
				}
				switch tok := tok.(type) {
				case json.Delim:
					switch tok {
					case '{':
						stack = append(stack, frame{obj: true, wantKey: true})
					case '[':
						stack = append(stack, frame{})
					default:
						stack = stack[:len(stack)-1]
					}
				case string:
					finish = finish || (inObj && key == "finish_reason")
				}
				if inObj && key == "error" && tok != nil {
					errored = true
				}
			}
			// A closing delimiter ends a value of the enclosing object.
			if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') && len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].wantKey = true
			}
		}
		if !finish || errored {
			t.Fatalf("inspect called %s complete and clean (finish %v, error %v)", b, finish, errored)
		}
	})
}
