package sim

import (
	"errors"
	"testing"
	"time"
)

func TestParseMessageDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string
		want    directives
		wantErr bool
	}{
		{name: "none", text: "just a prompt"},
		{name: "all keys", text: "[sim ttft=200ms tps=100 tokens=30 error=429]",
			want: directives{set: setTTFT | setTPS | setTokens | setFault, ttft: 200 * time.Millisecond, tps: 100, tokens: 30, fault: fault429}},
		{name: "line among prose", text: "hello\n  [sim tokens=3]\t\nbye", want: directives{set: setTokens, tokens: 3}},
		{name: "crlf", text: "hello\r\n[sim tokens=4]\r\n", want: directives{set: setTokens, tokens: 4}},
		{name: "later line wins", text: "[sim tokens=3]\n[sim tokens=5 error=cut]", want: directives{set: setTokens | setFault, tokens: 5, fault: faultCut}},
		{name: "bare millisecond ttft", text: "[sim ttft=150]", want: directives{set: setTTFT, ttft: 150 * time.Millisecond}},
		{name: "zero ttft", text: "[sim ttft=0]", want: directives{set: setTTFT}},
		{name: "unpaced", text: "[sim tps=inf]", want: directives{set: setTPS}},
		{name: "fractional tps", text: "[sim tps=0.5]", want: directives{set: setTPS, tps: 0.5}},
		{name: "empty directive", text: "[sim]"},
		{name: "inline mention ignored", text: "what does [sim error=429] do?"},
		{name: "not a sim tag", text: "[simulate error=429]"},
		{name: "unterminated", text: "[sim error=429"},
		{name: "every fault", text: "[sim error=stream-error]", want: directives{set: setFault, fault: faultStreamError}},
		{name: "underscore alias", text: "[sim error=stream_error]", want: directives{set: setFault, fault: faultStreamError}},
		{name: "unknown key", text: "[sim speed=3]", wantErr: true},
		{name: "no value", text: "[sim tokens=]", wantErr: true},
		{name: "no equals", text: "[sim tokens]", wantErr: true},
		{name: "negative ttft", text: "[sim ttft=-1s]", wantErr: true},
		{name: "bad ttft", text: "[sim ttft=soon]", wantErr: true},
		{name: "huge ttft", text: "[sim ttft=1e300]", wantErr: true},
		{name: "negative tps", text: "[sim tps=-3]", wantErr: true},
		{name: "nan tps", text: "[sim tps=NaN]", wantErr: true},
		{name: "too many tokens", text: "[sim tokens=100001]", wantErr: true},
		{name: "negative tokens", text: "[sim tokens=-1]", wantErr: true},
		{name: "unknown error", text: "[sim error=418]", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d directives
			err := parseMessageDirectives(tc.text, &d)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errDirective) {
					t.Errorf("err %v does not wrap errDirective", err)
				}
				return
			}
			if d != tc.want {
				t.Errorf("got %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestParseUserDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		user    string
		want    directives
		wantErr bool
	}{
		{name: "plain user id", user: "user-1234"},
		{name: "empty", user: ""},
		{name: "one key", user: "sim:error=429", want: directives{set: setFault, fault: fault429}},
		{name: "several keys", user: "sim:ttft=1s  tokens=2", want: directives{set: setTTFT | setTokens, ttft: time.Second, tokens: 2}},
		{name: "prefix only", user: "sim:"},
		{name: "bad", user: "sim:error", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d directives
			err := parseUserDirectives(tc.user, &d)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if d != tc.want {
				t.Errorf("got %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestMessageDirectiveOverridesUser(t *testing.T) {
	t.Parallel()
	tr := New(instant)
	p, aerr := tr.buildPlan([]byte(`{"model":"fast","user":"sim:tokens=3 ttft=1s","messages":[{"role":"user","content":"[sim tokens=5]"}]}`))
	if aerr != nil {
		t.Fatal(aerr)
	}
	if p.contentN != 5 || p.ttft != time.Second {
		t.Errorf("contentN %d ttft %v", p.contentN, p.ttft)
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{
		"[sim ttft=200ms tps=100 tokens=30 error=429]",
		"hi\n[sim error=cut]\n",
		"[sim ttft=1e9 tps=inf]",
		"[sim tokens=99999999999999999999]",
		"[sim\t=]",
		"[sim ttft=-0]",
		"\xff[sim error=\xff]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var d directives
		err := parseMessageDirectives(text, &d)
		if err != nil {
			if !errors.Is(err, errDirective) {
				t.Fatalf("error %v does not wrap errDirective", err)
			}
			return
		}
		if d.ttft < 0 || d.tps < 0 || d.tps != d.tps || d.tokens < 0 || d.tokens > maxDirectiveTokens {
			t.Fatalf("out-of-range directives %+v from %q", d, text)
		}
		var u directives
		_ = parseUserDirectives("sim:"+text, &u)
	})
}
