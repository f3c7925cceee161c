package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefault(t *testing.T) {
	c, err := Default(env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.TLS != "127.0.0.1:8443" || c.Listen.Plain != "127.0.0.1:8080" {
		t.Fatalf("listen = %+v", c.Listen)
	}
	if c.DataDir != "/home/u/.local/share/crossroads" {
		t.Fatalf("data dir = %q", c.DataDir)
	}
	if !Enabled(c.HTTP3.Enabled) || !Enabled(c.Sim.Enabled) || c.HTTP3.Allow0RTT {
		t.Fatalf("http3/sim defaults wrong: %+v %+v", c.HTTP3, c.Sim)
	}
	if c.Stream.KeepAlive.D() != 15*time.Second || c.Limits.MaxBodyBytes != 8<<20 {
		t.Fatalf("stream/limits defaults wrong")
	}
	if len(c.Providers) != 0 {
		t.Fatalf("providers without env: %+v", c.Providers)
	}
}

func TestEnvProviders(t *testing.T) {
	c, err := Default(env("OPENAI_API_KEY", "sk-a", "OPENAI_BASE_URL", "http://127.0.0.1:9/v1", "OPENROUTER_API_KEY", "sk-or"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 2 {
		t.Fatalf("providers = %+v", c.Providers)
	}
	oa, or := c.Providers[0], c.Providers[1]
	if oa.Name != "openai" || oa.BaseURL != "http://127.0.0.1:9/v1" || oa.APIKey != "sk-a" || oa.Passthrough != "openai/" || len(oa.Models) == 0 {
		t.Fatalf("openai provider = %+v", oa)
	}
	if or.Name != "openrouter" || or.BaseURL != defaultOpenRouterBaseURL || or.Passthrough != "*" {
		t.Fatalf("openrouter provider = %+v", or)
	}
	// A declared provider of the same name wins over the environment.
	c, err = Parse([]byte("providers:\n- name: openai\n  base_url: http://x/v1\n  models: [{id: a/b}]\n"), env("OPENAI_API_KEY", "sk-a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 1 || c.Providers[0].BaseURL != "http://x/v1" {
		t.Fatalf("declared provider was overridden: %+v", c.Providers)
	}
}

func TestParse(t *testing.T) {
	y := `
listen:
  tls: 127.0.0.1:0
  plain: "off"
http3:
  enabled: false
limits:
  max_body_bytes: 64KiB
stream:
  keep_alive: 2s
providers:
  - name: fake
    base_url: ${FAKE_URL}/v1
    api_key: ${FAKE_KEY:-sk-default}
    headers: {X-Title: crossroads}
    models:
      - id: fake/m
        upstream_id: m
        pricing: {prompt: 1.5, completion: 2}
`
	c, err := Parse([]byte(y), env("FAKE_URL", "http://127.0.0.1:9001"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Providers[0]
	if p.BaseURL != "http://127.0.0.1:9001/v1" || p.APIKey != "sk-default" || p.DisplayName != "fake" || p.Timeout.D() != 10*time.Minute {
		t.Fatalf("provider = %+v", p)
	}
	if c.Limits.MaxBodyBytes != 64<<10 || c.Stream.KeepAlive.D() != 2*time.Second || Enabled(c.HTTP3.Enabled) || c.Listen.Plain != "off" {
		t.Fatalf("config = %+v", c)
	}
	if m := p.Models[0]; m.UpstreamID != "m" || m.Name != "fake/m" || m.Pricing.Prompt != 1.5 {
		t.Fatalf("model = %+v", m)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "listen:\n  tsl: x\n", "unknown field tsl"},
		{"bad duration", "stream:\n  keep_alive: soon\n", "want a duration"},
		{"bad size", "limits:\n  max_body_bytes: lots\n", "want a size"},
		{"bad address", "listen:\n  tls: nowhere\n", "listen.tls: want host:port"},
		{"missing env", "providers:\n- name: p\n  base_url: http://x/v1\n  api_key: ${NOPE_KEY}\n  models: [{id: a}]\n", "providers[0].api_key: environment variable NOPE_KEY is not set"},
		{"missing base url", "providers:\n- name: p\n  models: [{id: a}]\n", "providers[0].base_url: want an absolute http(s) URL"},
		{"relative base url", "providers:\n- name: p\n  base_url: /v1\n  models: [{id: a}]\n", "providers[0].base_url"},
		{"no models", "providers:\n- name: p\n  base_url: http://x/v1\n", "providers[0].models: list at least one model"},
		{"duplicate provider", "providers:\n- {name: p, base_url: 'http://x', models: [{id: a}]}\n- {name: p, base_url: 'http://y', models: [{id: b}]}\n", "providers[1].name: duplicate provider"},
		{"reserved name", "providers:\n- {name: sim, base_url: 'http://x', models: [{id: a}]}\n", "reserved"},
		{"uppercase name", "providers:\n- {name: OpenAI, base_url: 'http://x', models: [{id: a}]}\n", "providers[0].name"},
		{"model claimed twice", "providers:\n- {name: p, base_url: 'http://x', models: [{id: a}]}\n- {name: q, base_url: 'http://y', models: [{id: a}]}\n", "providers[1].models[0].id: model \"a\" is already served"},
		{"negative price", "providers:\n- {name: p, base_url: 'http://x', models: [{id: a, pricing: {prompt: -1}}]}\n", "providers[0].models[0].pricing"},
		{"bad passthrough", "providers:\n- {name: p, base_url: 'http://x', passthrough: openai}\n", "providers[0].passthrough"},
		{"keep alive too short", "stream:\n  keep_alive: 10ms\n", "stream.keep_alive"},
		{"log level", "log:\n  level: loud\n", "log.level"},
		{"cert without key", "tls:\n  cert_file: a.pem\n", "tls: set both"},
		{"both listeners off", "listen:\n  tls: \"off\"\n  plain: \"off\"\n", "listen: both listeners are off"},
		{"header injection", "providers:\n- {name: p, base_url: 'http://x', headers: {X-A: \"a\\r\\nEvil: 1\"}, models: [{id: a}]}\n", "providers[0].headers.X-A"},
		{"wrong type", "http3:\n  max_streams_per_conn: many\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse([]byte("log:\n  level: loud\n  format: xml\n"), env())
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
}

func TestEnvValueStaysString(t *testing.T) {
	// A secret that looks like a number must not change type or lose digits.
	c, err := Parse([]byte("providers:\n- {name: p, base_url: 'http://x', api_key: '${K}', models: [{id: a}]}\n"), env("K", "0012"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers[0].APIKey != "0012" {
		t.Fatalf("api key = %q", c.Providers[0].APIKey)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("log:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path)
	if err != nil || c.Log.Level != "debug" {
		t.Fatalf("LoadFile = %+v, %v", c, err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "config: read") {
		t.Fatalf("missing file err = %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "64KiB": 64 << 10, "8 MiB": 8 << 20, "1GiB": 1 << 30, "2MB": 2000000} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "many"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}
