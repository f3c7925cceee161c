// Package config owns the node's configuration: the YAML schema, its defaults, ${ENV}
// expansion for secrets, and validation with errors that name the field at fault.
//
// It checks syntax only. Which providers and models exist is the catalog's business: a
// provider named here may be a catalog provider that needs nothing but a key, and only the
// catalog knows that. So config keeps the environment it was parsed with (LookupEnv) for
// the catalog to activate its providers from.
//
// It imports no runtime package: the node reads a Config, it never reaches back in here.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole node configuration. The zero value of every field means "use the
// default" documented on it; Load and Default fill those in.
type Config struct {
	// DataDir holds state the node generates: the self-signed certificate, later the
	// SQLite ledger. The --data-dir flag overrides it. Default: $XDG_DATA_HOME/crossroads,
	// else ~/.local/share/crossroads.
	DataDir string `yaml:"data_dir"`

	Listen   Listen   `yaml:"listen"`
	TLS      TLS      `yaml:"tls"`
	HTTP3    HTTP3    `yaml:"http3"`
	Limits   Limits   `yaml:"limits"`
	Timeouts Timeouts `yaml:"timeouts"`
	Stream   Stream   `yaml:"stream"`
	Sim      Sim      `yaml:"sim"`
	Log      Log      `yaml:"log"`
	Debug    Debug    `yaml:"debug"`

	// CatalogFile is a catalog YAML file (the schema of the embedded default catalog) that
	// replaces the embedded one. Default "": the catalog built into the binary.
	CatalogFile string `yaml:"catalog_file"`

	Routing Routing `yaml:"routing"`

	// Providers are the upstreams declared here. Catalog providers whose API key variable
	// is set in the environment (OPENAI_API_KEY, ...) are active too; an entry here with a
	// catalog provider's name overrides that provider's fields.
	Providers []Provider `yaml:"providers"`

	// Plugins are WebAssembly plugins (sdk/ABI.md) the node loads, bound to models or
	// providers. Changing a plugin file or this list takes effect without a restart.
	Plugins []Plugin `yaml:"plugins"`

	Cache Cache `yaml:"cache"`

	// lookup is the environment the config was parsed with; the catalog reads provider keys
	// from it, so a test's fake environment reaches the catalog too.
	lookup func(string) (string, bool) `yaml:"-"`
}

// LookupEnv reads an environment variable from the environment the configuration was
// parsed with (os.LookupEnv for a Config not made by Parse).
func (c *Config) LookupEnv(name string) (string, bool) {
	if c.lookup == nil {
		return os.LookupEnv(name)
	}
	return c.lookup(name)
}

// Cache is the prompt cache (DESIGN.md §5): requests whose answer is deterministic
// (temperature 0 or a seed) or that opt in are answered from it, and identical ones in flight
// share one upstream call. Rules and TTL reload with the file; sizes and Redis need a restart.
type Cache struct {
	// Enabled default true.
	Enabled *bool `yaml:"enabled"`
	// MaxBytes is the in-process store's budget: compressed answers plus bookkeeping.
	// Default 256MiB.
	MaxBytes Size `yaml:"max_bytes"`
	// CompressAbove: answers at least this large are stored zstd-compressed. Default 4KiB.
	CompressAbove Size `yaml:"compress_above"`
	// MaxEntryBytes: larger answers are served but not stored. Default 1MiB.
	MaxEntryBytes Size `yaml:"max_entry_bytes"`
	// TTL is an entry's lifetime when the request does not give one
	// (X-Crossroads-Cache-TTL). Default 300s; at most 24h.
	TTL Duration `yaml:"ttl"`
	// Shared puts all callers in one scope, so one API key's answers serve another's
	// requests. Default false: each key is its own tenant.
	Shared bool `yaml:"shared"`
	// Rules adjust the policy per model and per API key; the first match applies.
	Rules []CacheRule `yaml:"rules"`
	// Redis is the store the nodes of one PoP share. Off unless url is set.
	Redis CacheRedis `yaml:"redis"`
}

// CacheRule is the cache policy for some models and keys.
type CacheRule struct {
	// Models are globs over model ids ("openai/*"); empty matches all.
	Models []string `yaml:"models"`
	// Keys are API keys (write them as ${ENV} references); empty matches all callers.
	Keys []string `yaml:"keys"`
	// Mode: auto (deterministic or opted-in requests; the default), always (every request,
	// unless the client opts out) or off.
	Mode string `yaml:"mode"`
	// TTL replaces cache.ttl for these requests.
	TTL Duration `yaml:"ttl"`
}

// CacheRedis is the shared L2 store.
type CacheRedis struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS).
	URL string `yaml:"url"`
	// Timeout bounds each call; an L2 slower than this is a miss. Default 50ms.
	Timeout Duration `yaml:"timeout"`
	// Prefix namespaces the keys. Default "crossroads:cache:".
	Prefix string `yaml:"prefix"`
}

// CacheModes are the values of a cache rule's mode.
var CacheModes = []string{"auto", "always", "off"}

// Routing tunes how the router picks and retries endpoints. Every field is optional.
type Routing struct {
	// FirstByteTimeout is one attempt's wait for its first byte before the next endpoint
	// is tried. Default 120s; a provider's first_byte_timeout overrides it.
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	// TotalTimeout bounds all attempts until a first byte reaches the client. Default 10m.
	TotalTimeout Duration `yaml:"total_timeout"`
	// MaxAttempts caps the endpoints tried for one request. Default 6.
	MaxAttempts int      `yaml:"max_attempts"`
	Hedge       Hedge    `yaml:"hedge"`
	Sticky      Sticky   `yaml:"sticky"`
	Breaker     Breaker  `yaml:"breaker"`
	Degraded    Degraded `yaml:"degraded"`
	// LatencyOutlier: an endpoint whose time to first token is this many times the
	// fastest candidate's leaves the default first pick. Default 3; must be above 1.
	LatencyOutlier float64 `yaml:"latency_outlier"`
	// ProbeInterval is how often endpoints with an open circuit are probed. Default 0: off.
	ProbeInterval Duration `yaml:"probe_interval"`
}

// Hedge starts a second attempt when the first is slow to answer, keeping the faster.
type Hedge struct {
	// Enabled turns hedging on. Default false: a hedge can double the cost of a request.
	Enabled bool `yaml:"enabled"`
	// Delay is a fixed wait before hedging; 0 (default) waits for the first candidate's
	// TTFT p95, clamped to [MinDelay, MaxDelay].
	Delay Duration `yaml:"delay"`
	// MinDelay default 250ms; MaxDelay default 10s.
	MinDelay Duration `yaml:"min_delay"`
	MaxDelay Duration `yaml:"max_delay"`
}

// Sticky keeps a session (session_id, prompt_cache_key) on the endpoint that served it, so
// provider prompt caches keep hitting.
type Sticky struct {
	// Enabled default true.
	Enabled *bool `yaml:"enabled"`
	// TTL forgets a session idle this long. Default 1h.
	TTL Duration `yaml:"ttl"`
	// MaxSessions bounds the memory sessions take. Default 100000.
	MaxSessions int `yaml:"max_sessions"`
}

// Breaker is the per-endpoint circuit breaker.
type Breaker struct {
	// Enabled turns circuit breakers on. Default true. Off, failures still demote an
	// endpoint (degraded) but never take it out of rotation, and a 429's Retry-After is
	// passed to the client instead of closing the endpoint for everyone.
	Enabled *bool `yaml:"enabled"`
	// Failures in a row open the circuit. Default 5.
	Failures int `yaml:"failures"`
	// Cooldown is the first open period, doubled on each failed probe up to MaxCooldown.
	// Defaults 10s and 5m.
	Cooldown    Duration `yaml:"cooldown"`
	MaxCooldown Duration `yaml:"max_cooldown"`
}

// Degraded marks an endpoint that fails often without failing in a row: it is tried after
// the healthy ones.
type Degraded struct {
	// Window is the span failures are counted over. Default 30s.
	Window Duration `yaml:"window"`
	// MinFailures in the window before the ratio counts. Default 3.
	MinFailures int `yaml:"min_failures"`
	// Ratio of failed attempts in the window that marks the endpoint, in (0,1]. Default 0.2.
	Ratio float64 `yaml:"ratio"`
}

// Listen says where the node accepts clients.
type Listen struct {
	// TLS is the address for TLS over TCP (HTTP/1.1 and HTTP/2) and, on the same port,
	// UDP (HTTP/3). Default 127.0.0.1:8443; "off" disables.
	TLS string `yaml:"tls"`
	// Plain is the address for unencrypted HTTP/1.1 and h2c, for local tools.
	// Default 127.0.0.1:8080; "off" disables.
	Plain string `yaml:"plain"`
}

// TLS configures the certificate. With neither file set, the node generates a self-signed
// ECDSA certificate once into DataDir/tls.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ReloadInterval is how often the files are checked for changes. Default 5s.
	ReloadInterval Duration `yaml:"reload_interval"`
}

// HTTP3 configures the QUIC listener.
type HTTP3 struct {
	// Enabled serves HTTP/3 on the TLS port. Default true.
	Enabled *bool `yaml:"enabled"`
	// MaxStreamsPerConn caps concurrent requests per client connection (also for HTTP/2).
	// Default 1000.
	MaxStreamsPerConn int `yaml:"max_streams_per_conn"`
	// IdleTimeout closes QUIC connections idle this long. Default 120s; stream keep-alives
	// keep connections with open streams alive.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// Allow0RTT accepts TLS early data. Default false; when on, early non-GET requests still
	// get 425 Too Early because POSTs cost money and can be replayed.
	Allow0RTT bool `yaml:"allow_0rtt"`
}

// Limits bounds what clients and upstreams may send.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted (413 above it). Default 8MiB.
	MaxBodyBytes Size `yaml:"max_body_bytes"`
	// MaxHeaderBytes is the largest request header block. Default 64KiB.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxResponseBytes is the largest non-streamed upstream body read. Default 32MiB.
	MaxResponseBytes Size `yaml:"max_response_bytes"`
}

// Timeouts of the client side.
type Timeouts struct {
	// ReadHeader bounds how long a client may take to send request headers. Default 10s.
	ReadHeader Duration `yaml:"read_header"`
	// Idle closes keep-alive connections idle this long. Default 120s.
	Idle Duration `yaml:"idle"`
	// Shutdown is the drain deadline on SIGTERM: in-flight requests get this long to finish,
	// then streams are ended with an error event and connections closed. Default 30s.
	Shutdown Duration `yaml:"shutdown"`
}

// Stream configures server-sent events to clients.
type Stream struct {
	// KeepAlive is the interval of `: keep-alive` comments while a stream waits. Default 15s.
	KeepAlive Duration `yaml:"keep_alive"`
}

// Sim configures the built-in simulated provider and its sim/... models.
type Sim struct {
	// Enabled serves the sim/... models. Default true.
	Enabled *bool `yaml:"enabled"`
	// TTFT is the time to first token of realistic sim models. Default 250ms.
	TTFT Duration `yaml:"ttft"`
	// TokensPerSecond paces realistic sim models. Default 60.
	TokensPerSecond float64 `yaml:"tokens_per_second"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Debug holds operator tooling, off by default.
type Debug struct {
	// PprofAddr serves net/http/pprof on this address (keep it on loopback); empty disables.
	PprofAddr string `yaml:"pprof_addr"`
}

// Provider is one upstream. With the name of a catalog provider ("openai", "deepinfra")
// every field is optional: the catalog supplies the base URL, models and key variable, and
// what is set here wins over the catalog's.
type Provider struct {
	// Name is the provider's slug, unique, used in routing and logs (e.g. "openai").
	Name string `yaml:"name"`
	// DisplayName is shown as `provider` in responses. Default: the catalog's, else Name.
	DisplayName string `yaml:"display_name"`
	// Format is the provider's wire format. Default: the catalog's, else "openai".
	Format string `yaml:"format"`
	// BaseURL is the API root the SDKs would use, e.g. https://api.openai.com/v1; the node
	// appends /chat/completions. Required for a provider the catalog does not know.
	BaseURL string `yaml:"base_url"`
	// APIKey is sent as a bearer token. Use ${ENV} to keep it out of the file. Default:
	// the catalog provider's key variable (OPENAI_API_KEY, ...).
	APIKey string `yaml:"api_key"`
	// Headers are sent with every upstream request (e.g. OpenRouter's HTTP-Referer).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one upstream call from send to last byte. Default 10m.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds dialing and the TLS handshake. Default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// FirstByteTimeout bounds one attempt's wait for its first byte. Default 0: the
	// router's routing.first_byte_timeout.
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	// Region is where the provider serves from ("us", "eu"). Default: the catalog's.
	Region string `yaml:"region"`
	// DataPolicy says whether the provider keeps prompts or trains on them. Unset: the
	// catalog's (or neither); set, it replaces the catalog's.
	DataPolicy *DataPolicy `yaml:"data_policy"`
	// ServesCatalog makes the provider an endpoint of every catalog model at the model's
	// list price (an aggregator such as OpenRouter). Unset: the catalog's (or false).
	ServesCatalog *bool `yaml:"serves_catalog"`
	// Models this provider serves, added to (or, by id and tag, overriding) the catalog's.
	Models []Model `yaml:"models"`
	// Passthrough lets the provider serve models not listed: "*" for any model id, or a
	// prefix such as "openai/" for ids under it (the prefix is stripped upstream).
	Passthrough string `yaml:"passthrough"`
}

// Plugin declares one WebAssembly plugin.
type Plugin struct {
	// Name identifies the plugin in logs, metrics and errors. Required, unique. A format
	// plugin's name is what providers put in `format`.
	Name string `yaml:"name"`
	// Kind is route, transform or format; the plugin must export that kind's hooks.
	Kind string `yaml:"kind"`
	// File is the .wasm file, relative to the configuration file's directory. A format
	// plugin built into the node (anthropic, gemini) may leave it out.
	File string `yaml:"file"`
	// Order sorts plugins of one kind: lower runs first (for transforms, first on the
	// request and last on the response). Ties keep the order of this list.
	Order int `yaml:"order"`
	// Models are globs over model ids ("*", "openai/*") a route or transform plugin applies
	// to; empty means every model.
	Models []string `yaml:"models"`
	// Providers are the provider slugs a format plugin speaks for, overriding their
	// `format` (which can also name the plugin).
	Providers []string `yaml:"providers"`
	// Config is handed to the plugin's plugin_init as JSON.
	Config any `yaml:"config"`
	// OnFailure is the transform failure policy: "open" keeps the original body (default),
	// "closed" fails the request with a 502.
	OnFailure string       `yaml:"on_failure"`
	Limits    PluginLimits `yaml:"limits"`
}

// PluginLimits bound one plugin; zero fields take the host's defaults (sdk/ABI.md §7).
type PluginLimits struct {
	MemoryPages uint32   `yaml:"memory_pages"`
	Fuel        int64    `yaml:"fuel"`
	Deadline    Duration `yaml:"deadline"`
	MaxOutput   Size     `yaml:"max_output"`
	Instances   int      `yaml:"instances"`
}

// PluginKinds are the kinds a plugin may declare.
var PluginKinds = []string{"route", "transform", "format"}

// DataPolicy is what a provider does with prompts; data_collection "deny" routes only to
// providers with neither.
type DataPolicy struct {
	Retains bool `yaml:"retains"`
	Trains  bool `yaml:"trains"`
}

// Model is one model a provider serves: an endpoint. For a model the catalog lists, every
// field left unset here comes from the catalog.
type Model struct {
	// ID is the node's model id, the one clients send, e.g. "openai/gpt-4o-mini".
	ID string `yaml:"id"`
	// UpstreamID is the id the upstream expects. Default: the catalog endpoint's, else ID.
	UpstreamID string `yaml:"upstream_id"`
	// Name is the human name for /models. Default: the catalog's, else ID.
	Name string `yaml:"name"`
	// Aliases are other ids that resolve to this model (e.g. "gpt-4o-mini").
	Aliases []string `yaml:"aliases"`
	// ContextLength in tokens; 0 when unknown.
	ContextLength int `yaml:"context_length"`
	// MaxCompletionTokens the endpoint can emit; 0 when unknown.
	MaxCompletionTokens int `yaml:"max_completion_tokens"`
	// Pricing in USD per million tokens (Request: per request). Unset: the catalog
	// endpoint's, else free.
	Pricing *Pricing `yaml:"pricing"`
	// SupportedParameters are the request parameters the endpoint honours.
	SupportedParameters []string `yaml:"supported_parameters"`
	// InputModalities, e.g. [text, image]. Default: the catalog's, else [text].
	InputModalities []string `yaml:"input_modalities"`
	// Quantization of the weights served: int4, int8, fp4, mxfp4, nvfp4, fp6, fp8, mxfp8,
	// fp16, bf16, fp32 or unknown. Default: the catalog's, else unknown.
	Quantization string `yaml:"quantization"`
	// Tag names one of several endpoints of this provider for the model: routing matches
	// it as "provider/tag" (e.g. tag "turbo" of deepinfra is "deepinfra/turbo").
	Tag string `yaml:"tag"`
	// Region overrides the provider's region for this endpoint.
	Region string `yaml:"region"`
	// Tags are free labels route plugins can match.
	Tags []string `yaml:"tags"`
}

// Pricing is in USD per million tokens, the unit price pages use; /models shows it per token.
type Pricing struct {
	Prompt          float64 `yaml:"prompt"`
	Completion      float64 `yaml:"completion"`
	Request         float64 `yaml:"request"`
	InputCacheRead  float64 `yaml:"input_cache_read"`
	InputCacheWrite float64 `yaml:"input_cache_write"`
}

// Duration is a time.Duration written as "15s", "250ms" or "2m" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a duration such as 15s or 250ms")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("want a duration such as 15s or 250ms, got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as 1048576, "64KiB", "8MiB" or "1GiB" in YAML.
type Size int64

// UnmarshalYAML accepts a plain number or a number with a KiB/MiB/GiB (or KB/MB/GB) suffix.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a size such as 65536, 64KiB or 8MiB")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize parses "8MiB"-style sizes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<50)/mult {
		return 0, fmt.Errorf("want a size such as 65536, 64KiB or 8MiB, got %q", s)
	}
	return v * mult, nil
}

// Error is a configuration problem tied to a field path such as providers[1].base_url.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return "config: " + e.Field + ": " + e.Msg }

// Errors collects every problem found, so one run shows them all.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// LoadFile reads, expands, decodes and validates the YAML file at path and fills defaults.
// Relative plugin files are resolved against the file's directory, so a configuration
// means the same whatever directory the node was started from.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	c, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	for i := range c.Plugins {
		if f := c.Plugins[i].File; f != "" && !filepath.IsAbs(f) {
			c.Plugins[i].File = filepath.Join(filepath.Dir(path), f)
		}
	}
	return c, nil
}

// Default is the configuration without a file: the catalog's providers whose keys are in
// the environment, sim on.
func Default(lookup func(string) (string, bool)) (*Config, error) {
	return Parse(nil, lookup)
}

// Parse decodes YAML (empty means the embedded default), expanding ${VAR} and ${VAR:-def}
// in scalar values with lookup, and returns a validated Config with defaults filled in.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	cfg := &Config{lookup: lookup}
	if len(bytes.TrimSpace(data)) > 0 {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, fmt.Errorf("config: parse: %w", err)
		}
		if err := expandNode(&root, lookup, ""); err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(mustMarshal(&root)))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil {
			return nil, fmt.Errorf("config: %s", friendlyYAMLError(err))
		}
	}
	cfg.applyDefaults(lookup)
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func mustMarshal(n *yaml.Node) []byte {
	b, err := yaml.Marshal(n)
	if err != nil {
		// Re-marshalling a node tree yaml itself produced cannot fail.
		panic(fmt.Sprintf("config: re-marshal: %v", err))
	}
	return b
}

// friendlyYAMLError turns yaml.v3's "field x not found in type config.Provider" into a
// message a user can act on.
func friendlyYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = regexp.MustCompile(`field (\S+) not found in type config\.(\w+)`).ReplaceAllString(msg, "unknown field $1 (in $2)")
	return strings.TrimSpace(msg)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} in scalar values. Keys are left alone. An unset variable
// without a default is an error naming the field, so a missing secret fails at load rather
// than as a 401 from the upstream later.
func expandNode(n *yaml.Node, lookup func(string) (string, bool), path string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := expandNode(c, lookup, path); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := key
			if path != "" {
				p = path + "." + key
			}
			if err := expandNode(n.Content[i+1], lookup, p); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandNode(c, lookup, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			if missing == "" {
				missing = m[1]
			}
			return ""
		})
		if missing != "" {
			return &Error{Field: path, Msg: fmt.Sprintf("environment variable %s is not set", missing)}
		}
		// A value that came from the environment is a string, whatever it looks like.
		if n.Tag == "" || n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool" {
			n.Tag = "!!str"
		}
	}
	return nil
}

// Enabled reports a *bool option, true when unset.
func Enabled(b *bool) bool { return b == nil || *b }

func (c *Config) applyDefaults(lookup func(string) (string, bool)) {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir(lookup)
	}
	setDefault(&c.Listen.TLS, "127.0.0.1:8443")
	setDefault(&c.Listen.Plain, "127.0.0.1:8080")
	setDefault(&c.TLS.ReloadInterval, Duration(5*time.Second))
	setDefault(&c.HTTP3.MaxStreamsPerConn, 1000)
	setDefault(&c.HTTP3.IdleTimeout, Duration(120*time.Second))
	setDefault(&c.Limits.MaxBodyBytes, 8<<20)
	setDefault(&c.Limits.MaxHeaderBytes, 64<<10)
	setDefault(&c.Limits.MaxResponseBytes, 32<<20)
	setDefault(&c.Timeouts.ReadHeader, Duration(10*time.Second))
	setDefault(&c.Timeouts.Idle, Duration(120*time.Second))
	setDefault(&c.Timeouts.Shutdown, Duration(30*time.Second))
	setDefault(&c.Stream.KeepAlive, Duration(15*time.Second))
	setDefault(&c.Sim.TTFT, Duration(250*time.Millisecond))
	setDefault(&c.Sim.TokensPerSecond, 60)
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")
	r := &c.Routing
	setDefault(&r.FirstByteTimeout, Duration(120*time.Second))
	setDefault(&r.TotalTimeout, Duration(10*time.Minute))
	setDefault(&r.MaxAttempts, 6)
	setDefault(&r.Hedge.MinDelay, Duration(250*time.Millisecond))
	setDefault(&r.Hedge.MaxDelay, Duration(10*time.Second))
	setDefault(&r.Sticky.TTL, Duration(time.Hour))
	setDefault(&r.Sticky.MaxSessions, 100000)
	setDefault(&r.Breaker.Failures, 5)
	setDefault(&r.Breaker.Cooldown, Duration(10*time.Second))
	setDefault(&r.Breaker.MaxCooldown, Duration(5*time.Minute))
	setDefault(&r.Degraded.Window, Duration(30*time.Second))
	setDefault(&r.Degraded.MinFailures, 3)
	setDefault(&r.Degraded.Ratio, 0.2)
	setDefault(&r.LatencyOutlier, 3)
	cc := &c.Cache
	setDefault(&cc.MaxBytes, 256<<20)
	setDefault(&cc.CompressAbove, 4<<10)
	setDefault(&cc.MaxEntryBytes, 1<<20)
	setDefault(&cc.TTL, Duration(300*time.Second))
	setDefault(&cc.Redis.Timeout, Duration(50*time.Millisecond))
	setDefault(&cc.Redis.Prefix, "crossroads:cache:")
	// Model-level defaults (name, upstream id, modalities) are the catalog's to fill: only
	// it knows whether a model here overrides one it lists.
	for i := range c.Providers {
		p := &c.Providers[i]
		setDefault(&p.Timeout, DefaultTimeout)
		setDefault(&p.ConnectTimeout, DefaultConnectTimeout)
	}
}

// DefaultTimeout and DefaultConnectTimeout apply to providers the configuration does not
// declare (catalog providers activated by their key) as well as to declared ones.
const (
	DefaultTimeout        = Duration(10 * time.Minute)
	DefaultConnectTimeout = Duration(10 * time.Second)
)

// Quantizations are the weight formats an endpoint may declare, OpenRouter's vocabulary.
var Quantizations = []string{"int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32", "unknown"}

// ValidQuantization reports whether q is one of Quantizations.
func ValidQuantization(q string) bool { return slices.Contains(Quantizations, q) }

// CheckBaseURL reports what is wrong with a provider base URL, or "" when it is usable.
func CheckBaseURL(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Sprintf("want an absolute http(s) URL such as https://api.openai.com/v1, got %q", v)
	case u.RawQuery != "" || u.Fragment != "":
		return "must not have a query or fragment"
	}
	return ""
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func defaultDataDir(lookup func(string) (string, bool)) string {
	if d, ok := lookup("XDG_DATA_HOME"); ok && d != "" {
		return d + "/crossroads"
	}
	if h, ok := lookup("HOME"); ok && h != "" {
		return h + "/.local/share/crossroads"
	}
	return ".crossroads"
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Validate checks the whole configuration and returns every problem, each naming its field.
func (c *Config) Validate() Errors {
	var errs Errors
	bad := func(field, format string, args ...any) {
		errs = append(errs, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	checkAddr := func(field, v string) {
		if v == "off" {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil {
			bad(field, "want host:port or \"off\", got %q", v)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(field, "port %q is not a number between 0 and 65535", port)
		}
	}
	checkAddr("listen.tls", c.Listen.TLS)
	checkAddr("listen.plain", c.Listen.Plain)
	if c.Debug.PprofAddr != "" {
		checkAddr("debug.pprof_addr", c.Debug.PprofAddr)
	}
	if c.Listen.TLS == "off" && c.Listen.Plain == "off" {
		bad("listen", "both listeners are off; the node would serve nothing")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "set both cert_file and key_file, or neither for a self-signed certificate")
	}
	positive := func(field string, d Duration) {
		if d < 0 {
			bad(field, "must not be negative")
		}
	}
	positive("tls.reload_interval", c.TLS.ReloadInterval)
	positive("http3.idle_timeout", c.HTTP3.IdleTimeout)
	positive("timeouts.read_header", c.Timeouts.ReadHeader)
	positive("timeouts.idle", c.Timeouts.Idle)
	positive("timeouts.shutdown", c.Timeouts.Shutdown)
	if c.Stream.KeepAlive < Duration(time.Second) {
		bad("stream.keep_alive", "must be at least 1s, got %s", c.Stream.KeepAlive.D())
	}
	if c.HTTP3.MaxStreamsPerConn < 1 {
		bad("http3.max_streams_per_conn", "must be at least 1")
	}
	if c.Limits.MaxBodyBytes < 1024 {
		bad("limits.max_body_bytes", "must be at least 1KiB")
	}
	if c.Limits.MaxHeaderBytes < 4096 {
		bad("limits.max_header_bytes", "must be at least 4KiB")
	}
	if c.Limits.MaxResponseBytes < 1024 {
		bad("limits.max_response_bytes", "must be at least 1KiB")
	}
	if c.Sim.TokensPerSecond < 0 {
		bad("sim.tokens_per_second", "must not be negative")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "want text or json, got %q", c.Log.Format)
	}

	c.validateRouting(bad)
	c.validatePlugins(bad)
	c.validateCache(bad)

	names := map[string]bool{}
	// aliasOf maps every id and alias to the model id it names, across providers: several
	// providers may serve one model, but one name must not mean two models.
	aliasOf := map[string]string{}
	for i, p := range c.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "":
			bad(f+".name", "is required")
		case !slugRE.MatchString(p.Name):
			bad(f+".name", "%q must be lowercase letters, digits, '.', '_' or '-'", p.Name)
		case p.Name == "sim":
			bad(f+".name", "\"sim\" is reserved for the built-in simulated provider")
		case names[p.Name]:
			bad(f+".name", "duplicate provider %q", p.Name)
		}
		names[p.Name] = true
		// Whether base_url may be left out depends on the catalog, which checks it.
		if p.BaseURL != "" {
			if msg := CheckBaseURL(p.BaseURL); msg != "" {
				bad(f+".base_url", "%s", msg)
			}
		}
		if p.Format != "" && !slugRE.MatchString(p.Format) {
			bad(f+".format", "%q must be lowercase letters, digits, '.', '_' or '-', such as \"openai\"", p.Format)
		}
		if p.Region != "" && !slugRE.MatchString(p.Region) {
			bad(f+".region", "%q must be lowercase letters, digits, '.', '_' or '-', such as \"us\" or \"eu\"", p.Region)
		}
		for k, v := range p.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				bad(f+".headers", "invalid header name %q", k)
			}
			if strings.ContainsAny(v, "\r\n") {
				bad(f+".headers."+k, "header values must not contain line breaks")
			}
		}
		if strings.ContainsAny(p.APIKey, "\r\n") {
			bad(f+".api_key", "must not contain line breaks")
		}
		positive(f+".timeout", p.Timeout)
		positive(f+".connect_timeout", p.ConnectTimeout)
		positive(f+".first_byte_timeout", p.FirstByteTimeout)
		endpoints := map[[2]string]bool{}
		for j, m := range p.Models {
			mf := fmt.Sprintf("%s.models[%d]", f, j)
			if m.ID == "" {
				bad(mf+".id", "is required")
				continue
			}
			if strings.HasPrefix(m.ID, "sim/") {
				bad(mf+".id", "ids under sim/ are reserved for the simulated provider")
			}
			if strings.ContainsAny(m.ID, " \t\r\n") {
				bad(mf+".id", "%q must not contain whitespace", m.ID)
			}
			// One provider serves a model once per tag: two entries would be two
			// endpoints with one routing name.
			if key := [2]string{m.ID, m.Tag}; endpoints[key] {
				if m.Tag == "" {
					bad(mf+".id", "model %q is listed twice; give one a tag to serve two variants", m.ID)
				} else {
					bad(mf+".tag", "model %q with tag %q is listed twice", m.ID, m.Tag)
				}
			} else {
				endpoints[key] = true
			}
			for k, alias := range append([]string{m.ID}, m.Aliases...) {
				field := mf + ".id"
				if k > 0 {
					field = fmt.Sprintf("%s.aliases[%d]", mf, k-1)
				}
				if prev, ok := aliasOf[alias]; ok && prev != m.ID {
					bad(field, "%q already names model %q", alias, prev)
					continue
				}
				aliasOf[alias] = m.ID
			}
			if m.ContextLength < 0 || m.MaxCompletionTokens < 0 {
				bad(mf, "context_length and max_completion_tokens must not be negative")
			}
			if pr := m.Pricing; pr != nil && (pr.Prompt < 0 || pr.Completion < 0 || pr.Request < 0 || pr.InputCacheRead < 0 || pr.InputCacheWrite < 0) {
				bad(mf+".pricing", "prices must not be negative")
			}
			if m.Quantization != "" && !ValidQuantization(m.Quantization) {
				bad(mf+".quantization", "want one of %s, got %q", strings.Join(Quantizations, ", "), m.Quantization)
			}
			if m.Tag != "" && !slugRE.MatchString(m.Tag) {
				bad(mf+".tag", "%q must be lowercase letters, digits, '.', '_' or '-' (the provider's slug and a '/' are added)", m.Tag)
			}
			if m.Region != "" && !slugRE.MatchString(m.Region) {
				bad(mf+".region", "%q must be lowercase letters, digits, '.', '_' or '-'", m.Region)
			}
			for k, t := range m.Tags {
				if t == "" || strings.ContainsAny(t, " \t\r\n,") {
					bad(fmt.Sprintf("%s.tags[%d]", mf, k), "%q must be non-empty, without whitespace or commas", t)
				}
			}
		}
		if pt := p.Passthrough; pt != "" && pt != "*" && !strings.HasSuffix(pt, "/") {
			bad(f+".passthrough", "want \"*\" or a prefix ending in '/', such as \"openai/\", got %q", pt)
		}
	}
	return errs
}

// validateRouting checks the routing section. Zero values were replaced by defaults, so
// what is left to catch is the negative and the out of range.
func (c *Config) validateRouting(bad func(field, format string, args ...any)) {
	r := c.Routing
	atLeast := func(field string, d, min Duration) {
		if d < min {
			bad(field, "must be at least %s, got %s", min.D(), d.D())
		}
	}
	atLeast("routing.first_byte_timeout", r.FirstByteTimeout, Duration(time.Millisecond))
	atLeast("routing.total_timeout", r.TotalTimeout, Duration(time.Millisecond))
	if r.MaxAttempts < 1 {
		bad("routing.max_attempts", "must be at least 1, got %d", r.MaxAttempts)
	}
	atLeast("routing.hedge.delay", r.Hedge.Delay, 0)
	atLeast("routing.hedge.min_delay", r.Hedge.MinDelay, 0)
	atLeast("routing.hedge.max_delay", r.Hedge.MaxDelay, 0)
	if r.Hedge.MaxDelay < r.Hedge.MinDelay {
		bad("routing.hedge.max_delay", "must not be below min_delay (%s), got %s", r.Hedge.MinDelay.D(), r.Hedge.MaxDelay.D())
	}
	atLeast("routing.sticky.ttl", r.Sticky.TTL, Duration(time.Second))
	if r.Sticky.MaxSessions < 1 {
		bad("routing.sticky.max_sessions", "must be at least 1, got %d", r.Sticky.MaxSessions)
	}
	if r.Breaker.Failures < 1 {
		bad("routing.breaker.failures", "must be at least 1, got %d", r.Breaker.Failures)
	}
	atLeast("routing.breaker.cooldown", r.Breaker.Cooldown, Duration(time.Millisecond))
	if r.Breaker.MaxCooldown < r.Breaker.Cooldown {
		bad("routing.breaker.max_cooldown", "must not be below cooldown (%s), got %s", r.Breaker.Cooldown.D(), r.Breaker.MaxCooldown.D())
	}
	atLeast("routing.degraded.window", r.Degraded.Window, Duration(time.Millisecond))
	if r.Degraded.MinFailures < 1 {
		bad("routing.degraded.min_failures", "must be at least 1, got %d", r.Degraded.MinFailures)
	}
	// NaN fails every comparison, so the checks are written to reject it.
	if !(r.Degraded.Ratio > 0 && r.Degraded.Ratio <= 1) {
		bad("routing.degraded.ratio", "must be in (0, 1], got %g", r.Degraded.Ratio)
	}
	if !(r.LatencyOutlier > 1) || math.IsInf(r.LatencyOutlier, 1) {
		bad("routing.latency_outlier", "must be a number above 1, got %g", r.LatencyOutlier)
	}
	atLeast("routing.probe_interval", r.ProbeInterval, 0)
}

func (c *Config) validateCache(bad func(field, format string, args ...any)) {
	cc := c.Cache
	if cc.MaxBytes < 1<<20 {
		bad("cache.max_bytes", "must be at least 1MiB, got %d", cc.MaxBytes)
	}
	if cc.CompressAbove < 1 {
		bad("cache.compress_above", "must be positive, got %d", cc.CompressAbove)
	}
	if cc.MaxEntryBytes < 1 || cc.MaxEntryBytes > cc.MaxBytes {
		bad("cache.max_entry_bytes", "must be positive and at most max_bytes, got %d", cc.MaxEntryBytes)
	}
	if cc.TTL < Duration(time.Second) || cc.TTL > Duration(24*time.Hour) {
		bad("cache.ttl", "must be from 1s to 24h, got %s", cc.TTL.D())
	}
	for i, r := range cc.Rules {
		f := fmt.Sprintf("cache.rules[%d]", i)
		if r.Mode != "" && !slices.Contains(CacheModes, r.Mode) {
			bad(f+".mode", "want auto, always or off, got %q", r.Mode)
		}
		if r.TTL != 0 && (r.TTL < Duration(time.Second) || r.TTL > Duration(24*time.Hour)) {
			bad(f+".ttl", "must be from 1s to 24h, got %s", r.TTL.D())
		}
		for j, k := range r.Keys {
			if strings.TrimSpace(k) == "" {
				bad(fmt.Sprintf("%s.keys[%d]", f, j), "is empty (an unset ${ENV} reference?)")
			}
		}
	}
	if u := cc.Redis.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "redis" && p.Scheme != "rediss") || p.Host == "" {
			bad("cache.redis.url", "want redis://host:port[/db] or rediss://…, got %q", u)
		}
	}
	if cc.Redis.Timeout < Duration(time.Millisecond) {
		bad("cache.redis.timeout", "must be at least 1ms, got %s", cc.Redis.Timeout.D())
	}
}

func (c *Config) validatePlugins(bad func(field, format string, args ...any)) {
	names := map[string]bool{}
	for i, p := range c.Plugins {
		f := fmt.Sprintf("plugins[%d]", i)
		switch {
		case p.Name == "":
			bad(f+".name", "is required")
		case !slugRE.MatchString(p.Name):
			bad(f+".name", "%q must be lowercase letters, digits, '.', '_' or '-'", p.Name)
		case names[p.Name]:
			bad(f+".name", "duplicate plugin %q", p.Name)
		}
		names[p.Name] = true
		if !slices.Contains(PluginKinds, p.Kind) {
			bad(f+".kind", "want route, transform or format, got %q", p.Kind)
		}
		if p.File == "" && p.Kind != "format" {
			bad(f+".file", "is required")
		}
		switch p.OnFailure {
		case "", "open", "closed":
		default:
			bad(f+".on_failure", "want open or closed, got %q", p.OnFailure)
		}
		if p.OnFailure != "" && p.Kind != "transform" {
			bad(f+".on_failure", "applies to transform plugins only")
		}
		for j, g := range p.Models {
			if strings.TrimSpace(g) == "" {
				bad(fmt.Sprintf("%s.models[%d]", f, j), "is empty; use \"*\" for every model")
			}
		}
		if p.Kind == "format" && len(p.Models) > 0 {
			bad(f+".models", "a format plugin is bound to providers (its providers list, or a provider's `format`), not to models")
		}
		if p.Kind != "format" && len(p.Providers) > 0 {
			bad(f+".providers", "route and transform plugins are bound to models; providers binds format plugins")
		}
		if p.Config != nil {
			if _, ok := p.Config.(map[string]any); !ok {
				bad(f+".config", "must be a mapping (it is handed to the plugin as a JSON object)")
			}
		}
		l := p.Limits
		if l.MemoryPages > 65536 {
			bad(f+".limits.memory_pages", "at most 65536 (4 GiB)")
		}
		if l.Fuel < 0 || l.Instances < 0 || l.MaxOutput < 0 || l.Deadline < 0 {
			bad(f+".limits", "limits must not be negative")
		}
	}
}
