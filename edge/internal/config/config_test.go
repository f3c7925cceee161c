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

func TestRoutingDefaults(t *testing.T) {
	c, err := Default(env())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routing
	want := Routing{
		FirstByteTimeout: Duration(120 * time.Second), TotalTimeout: Duration(10 * time.Minute), MaxAttempts: 6,
		Hedge:          Hedge{MinDelay: Duration(250 * time.Millisecond), MaxDelay: Duration(10 * time.Second)},
		Sticky:         Sticky{TTL: Duration(time.Hour), MaxSessions: 100000},
		Breaker:        Breaker{Failures: 5, Cooldown: Duration(10 * time.Second), MaxCooldown: Duration(5 * time.Minute)},
		Degraded:       Degraded{Window: Duration(30 * time.Second), MinFailures: 3, Ratio: 0.2},
		LatencyOutlier: 3,
	}
	if r != want {
		t.Fatalf("routing = %+v\nwant      %+v", r, want)
	}
	if r.Hedge.Enabled || !Enabled(r.Sticky.Enabled) || r.ProbeInterval != 0 {
		t.Fatalf("hedge/sticky/probe defaults wrong: %+v", r)
	}
	c, err = Parse([]byte("routing:\n  max_attempts: 2\n  hedge: {enabled: true, delay: 1s}\n  sticky: {enabled: false}\n  degraded: {ratio: 1}\n  probe_interval: 5s\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Routing; r.MaxAttempts != 2 || !r.Hedge.Enabled || r.Hedge.Delay.D() != time.Second || Enabled(r.Sticky.Enabled) ||
		r.Degraded.Ratio != 1 || r.ProbeInterval.D() != 5*time.Second || r.Breaker.Failures != 5 {
		t.Fatalf("routing = %+v", r)
	}
}

func TestLookupEnv(t *testing.T) {
	c, err := Default(env("OPENAI_API_KEY", "sk-a"))
	if err != nil {
		t.Fatal(err)
	}
	// The environment activates catalog providers, which config knows nothing of: it only
	// keeps the lookup for the catalog.
	if len(c.Providers) != 0 {
		t.Fatalf("providers = %+v", c.Providers)
	}
	if v, ok := c.LookupEnv("OPENAI_API_KEY"); !ok || v != "sk-a" {
		t.Fatalf("LookupEnv = %q, %v", v, ok)
	}
	if _, ok := c.LookupEnv("NOPE"); ok {
		t.Fatal("LookupEnv found an unset variable")
	}
	t.Setenv("CROSSROADS_TEST_VAR", "x")
	if v, ok := (&Config{}).LookupEnv("CROSSROADS_TEST_VAR"); !ok || v != "x" {
		t.Fatalf("zero Config LookupEnv = %q, %v; want the process environment", v, ok)
	}
}

func TestProviders(t *testing.T) {
	y := `
catalog_file: /etc/crossroads/catalog.yaml
providers:
  - name: openai                 # a catalog provider: nothing else needed
  - name: deepinfra
    format: openai
    first_byte_timeout: 30s
    region: us
    data_policy: {retains: false, trains: false}
    serves_catalog: false
    models:
      - {id: meta-llama/llama-3.3-70b-instruct, quantization: fp8, tag: turbo, region: eu, tags: [fast]}
      - {id: meta-llama/llama-3.3-70b-instruct, aliases: [llama-3.3-70b]}
  - name: together
    base_url: https://api.together.xyz/v1
    models:
      - {id: meta-llama/llama-3.3-70b-instruct, aliases: [llama-3.3-70b], pricing: {prompt: 0.88, completion: 0.88}}
`
	c, err := Parse([]byte(y), env())
	if err != nil {
		t.Fatal(err)
	}
	if c.CatalogFile != "/etc/crossroads/catalog.yaml" || len(c.Providers) != 3 {
		t.Fatalf("config = %+v", c)
	}
	oa, di, tg := c.Providers[0], c.Providers[1], c.Providers[2]
	// Fields the catalog may supply stay empty, so the catalog can tell "unset" from a value.
	if oa.BaseURL != "" || oa.DisplayName != "" || oa.Format != "" || oa.DataPolicy != nil || oa.ServesCatalog != nil || oa.Timeout != DefaultTimeout {
		t.Fatalf("openai = %+v", oa)
	}
	if di.FirstByteTimeout.D() != 30*time.Second || di.Region != "us" || di.DataPolicy == nil || di.ServesCatalog == nil || *di.ServesCatalog {
		t.Fatalf("deepinfra = %+v", di)
	}
	if m := di.Models[0]; m.Quantization != "fp8" || m.Tag != "turbo" || m.Region != "eu" || len(m.Tags) != 1 || m.UpstreamID != "" || m.Name != "" || m.Pricing != nil {
		t.Fatalf("deepinfra model = %+v", m)
	}
	if p := tg.Models[0].Pricing; p == nil || p.Prompt != 0.88 {
		t.Fatalf("together pricing = %+v", p)
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
	if p.BaseURL != "http://127.0.0.1:9001/v1" || p.APIKey != "sk-default" || p.Timeout.D() != 10*time.Minute {
		t.Fatalf("provider = %+v", p)
	}
	if c.Limits.MaxBodyBytes != 64<<10 || c.Stream.KeepAlive.D() != 2*time.Second || Enabled(c.HTTP3.Enabled) || c.Listen.Plain != "off" {
		t.Fatalf("config = %+v", c)
	}
	if m := p.Models[0]; m.UpstreamID != "m" || m.Name != "" || m.Pricing == nil || m.Pricing.Prompt != 1.5 {
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
		{"relative base url", "providers:\n- name: p\n  base_url: /v1\n  models: [{id: a}]\n", "providers[0].base_url: want an absolute http(s) URL"},
		{"base url with query", "providers:\n- name: p\n  base_url: 'http://x/v1?a=1'\n", "providers[0].base_url: must not have a query"},
		{"duplicate provider", "providers:\n- {name: p, base_url: 'http://x', models: [{id: a}]}\n- {name: p, base_url: 'http://y', models: [{id: b}]}\n", "providers[1].name: duplicate provider"},
		{"reserved name", "providers:\n- {name: sim, base_url: 'http://x', models: [{id: a}]}\n", "reserved"},
		{"uppercase name", "providers:\n- {name: OpenAI, base_url: 'http://x', models: [{id: a}]}\n", "providers[0].name"},
		{"alias names two models", "providers:\n- {name: p, models: [{id: a, aliases: [x]}]}\n- {name: q, models: [{id: b, aliases: [x]}]}\n", "providers[1].models[0].aliases[0]: \"x\" already names model \"a\""},
		{"alias is another model's id", "providers:\n- {name: p, models: [{id: a}, {id: b, aliases: [a]}]}\n", "providers[0].models[1].aliases[0]: \"a\" already names model \"a\""},
		{"model twice in one provider", "providers:\n- {name: p, models: [{id: a}, {id: a}]}\n", "providers[0].models[1].id: model \"a\" is listed twice"},
		{"model tag twice in one provider", "providers:\n- {name: p, models: [{id: a, tag: t}, {id: a, tag: t}]}\n", "providers[0].models[1].tag"},
		{"bad quantization", "providers:\n- {name: p, models: [{id: a, quantization: fp7}]}\n", "providers[0].models[0].quantization: want one of"},
		{"tag with slash", "providers:\n- {name: p, models: [{id: a, tag: x/y}]}\n", "providers[0].models[0].tag"},
		{"empty endpoint tag", "providers:\n- {name: p, models: [{id: a, tags: ['']}]}\n", "providers[0].models[0].tags[0]"},
		{"bad format", "providers:\n- {name: p, format: Open AI}\n", "providers[0].format"},
		{"bad region", "providers:\n- {name: p, region: US East}\n", "providers[0].region"},
		{"negative first byte timeout", "providers:\n- {name: p, first_byte_timeout: -1s}\n", "providers[0].first_byte_timeout"},
		{"bad data policy", "providers:\n- {name: p, data_policy: {retains: maybe}}\n", "cannot unmarshal"},
		{"negative routing timeout", "routing:\n  first_byte_timeout: -1s\n", "routing.first_byte_timeout"},
		{"negative total timeout", "routing:\n  total_timeout: -5m\n", "routing.total_timeout"},
		{"no attempts", "routing:\n  max_attempts: -1\n", "routing.max_attempts"},
		{"hedge delays reversed", "routing:\n  hedge: {min_delay: 2s, max_delay: 1s}\n", "routing.hedge.max_delay"},
		{"negative hedge delay", "routing:\n  hedge: {delay: -1s}\n", "routing.hedge.delay"},
		{"sticky ttl", "routing:\n  sticky: {ttl: 10ms}\n", "routing.sticky.ttl"},
		{"sticky sessions", "routing:\n  sticky: {max_sessions: -3}\n", "routing.sticky.max_sessions"},
		{"breaker failures", "routing:\n  breaker: {failures: -1}\n", "routing.breaker.failures"},
		{"breaker cooldowns reversed", "routing:\n  breaker: {cooldown: 1m, max_cooldown: 30s}\n", "routing.breaker.max_cooldown"},
		{"degraded window", "routing:\n  degraded: {window: -1s}\n", "routing.degraded.window"},
		{"degraded min failures", "routing:\n  degraded: {min_failures: -1}\n", "routing.degraded.min_failures"},
		{"degraded ratio above one", "routing:\n  degraded: {ratio: 1.5}\n", "routing.degraded.ratio"},
		{"degraded ratio negative", "routing:\n  degraded: {ratio: -0.1}\n", "routing.degraded.ratio"},
		{"degraded ratio nan", "routing:\n  degraded: {ratio: .nan}\n", "routing.degraded.ratio"},
		{"latency outlier", "routing:\n  latency_outlier: 0.5\n", "routing.latency_outlier"},
		{"probe interval", "routing:\n  probe_interval: -1s\n", "routing.probe_interval"},
		{"unknown routing field", "routing:\n  retries: 3\n", "unknown field retries (in Routing)"},
		{"negative price", "providers:\n- {name: p, base_url: 'http://x', models: [{id: a, pricing: {prompt: -1}}]}\n", "providers[0].models[0].pricing"},
		{"bad passthrough", "providers:\n- {name: p, base_url: 'http://x', passthrough: openai}\n", "providers[0].passthrough"},
		{"keep alive too short", "stream:\n  keep_alive: 10ms\n", "stream.keep_alive"},
		{"log level", "log:\n  level: loud\n", "log.level"},
		{"cert without key", "tls:\n  cert_file: a.pem\n", "tls: set both"},
		{"both listeners off", "listen:\n  tls: \"off\"\n  plain: \"off\"\n", "listen: both listeners are off"},
		{"header injection", "providers:\n- {name: p, base_url: 'http://x', headers: {X-A: \"a\\r\\nEvil: 1\"}, models: [{id: a}]}\n", "providers[0].headers.X-A"},
		{"wrong type", "http3:\n  max_streams_per_conn: many\n", "cannot unmarshal"},
		{"plugin without name", "plugins:\n- {kind: route, file: a.wasm}\n", "plugins[0].name"},
		{"plugin bad kind", "plugins:\n- {name: a, kind: filter, file: a.wasm}\n", "plugins[0].kind"},
		{"plugin without file", "plugins:\n- {name: a, kind: route}\n", "plugins[0].file"},
		{"duplicate plugin", "plugins:\n- {name: a, kind: route, file: a.wasm}\n- {name: a, kind: route, file: b.wasm}\n", "plugins[1].name"},
		{"plugin bad policy", "plugins:\n- {name: a, kind: transform, file: a.wasm, on_failure: maybe}\n", "plugins[0].on_failure"},
		{"policy on a route plugin", "plugins:\n- {name: a, kind: route, file: a.wasm, on_failure: closed}\n", "applies to transform plugins only"},
		{"format plugin bound to models", "plugins:\n- {name: a, kind: format, models: [x]}\n", "plugins[0].models"},
		{"cache budget too small", "cache: {max_bytes: 1000}\n", "cache.max_bytes"},
		{"cache entry above budget", "cache: {max_bytes: 2MiB, max_entry_bytes: 4MiB}\n", "cache.max_entry_bytes"},
		{"cache ttl too long", "cache: {ttl: 25h}\n", "cache.ttl"},
		{"cache rule bad mode", "cache:\n  rules:\n  - {models: [x], mode: sometimes}\n", "cache.rules[0].mode"},
		{"cache rule bad ttl", "cache:\n  rules:\n  - {ttl: 0.5s}\n", "cache.rules[0].ttl"},
		{"cache rule empty key", "cache:\n  rules:\n  - {keys: ['${NOPE}']}\n", "cache.rules[0].keys[0]"},
		{"cache redis not a redis url", "cache: {redis: {url: 'http://x:6379'}}\n", "cache.redis.url"},
		{"route plugin bound to providers", "plugins:\n- {name: a, kind: route, file: a.wasm, providers: [openai]}\n", "plugins[0].providers"},
		{"plugin config not a mapping", "plugins:\n- {name: a, kind: route, file: a.wasm, config: [1, 2]}\n", "plugins[0].config"},
		{"plugin empty glob", "plugins:\n- {name: a, kind: route, file: a.wasm, models: [\"\"]}\n", "plugins[0].models[0]"},
		{"plugin memory", "plugins:\n- {name: a, kind: route, file: a.wasm, limits: {memory_pages: 70000}}\n", "plugins[0].limits.memory_pages"},
		{"plugin negative fuel", "plugins:\n- {name: a, kind: route, file: a.wasm, limits: {fuel: -1}}\n", "plugins[0].limits"},
		{"unknown plugin field", "plugins:\n- {name: a, kind: route, file: a.wasm, hooks: [x]}\n", "unknown field hooks (in Plugin)"},
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
	// Plugin files are relative to the configuration file, not to the working directory.
	dir := t.TempDir()
	path = filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("plugins:\n- {name: a, kind: route, file: p/a.wasm}\n- {name: b, kind: route, file: /abs/b.wasm}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = LoadFile(path)
	if err != nil || c.Plugins[0].File != filepath.Join(dir, "p/a.wasm") || c.Plugins[1].File != "/abs/b.wasm" {
		t.Fatalf("plugin files = %+v, %v", c.Plugins, err)
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
