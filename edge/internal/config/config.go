// Package config owns the node's configuration: the YAML schema, its defaults, ${ENV}
// expansion for secrets, validation with errors that name the field at fault, and the
// providers the node infers from the environment the way the provider SDKs read it.
//
// It imports no runtime package: the node reads a Config, it never reaches back in here.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
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

	// Providers are the upstreams. Providers found in the environment (OPENAI_API_KEY,
	// OPENROUTER_API_KEY) are added unless one of the same name is declared here.
	Providers []Provider `yaml:"providers"`
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

// Provider is one OpenAI-compatible upstream.
type Provider struct {
	// Name is the provider's slug, unique, used in routing and logs (e.g. "openai").
	Name string `yaml:"name"`
	// DisplayName is shown as `provider` in responses. Default: Name.
	DisplayName string `yaml:"display_name"`
	// BaseURL is the API root the SDKs would use, e.g. https://api.openai.com/v1; the node
	// appends /chat/completions.
	BaseURL string `yaml:"base_url"`
	// APIKey is sent as a bearer token. Use ${ENV} to keep it out of the file.
	APIKey string `yaml:"api_key"`
	// Headers are sent with every upstream request (e.g. OpenRouter's HTTP-Referer).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one upstream call from send to last byte. Default 10m.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds dialing and the TLS handshake. Default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// Models this provider serves.
	Models []Model `yaml:"models"`
	// Passthrough lets the provider serve models not listed: "*" for any model id, or a
	// prefix such as "openai/" for ids under it (the prefix is stripped upstream).
	Passthrough string `yaml:"passthrough"`
}

// Model is one model a provider serves.
type Model struct {
	// ID is the node's model id, the one clients send, e.g. "openai/gpt-4o-mini".
	ID string `yaml:"id"`
	// UpstreamID is the id the upstream expects. Default: ID.
	UpstreamID string `yaml:"upstream_id"`
	// Name is the human name for /models. Default: ID.
	Name string `yaml:"name"`
	// Aliases are other ids that resolve to this model (e.g. "gpt-4o-mini").
	Aliases []string `yaml:"aliases"`
	// ContextLength in tokens; 0 when unknown.
	ContextLength int `yaml:"context_length"`
	// MaxCompletionTokens the endpoint can emit; 0 when unknown.
	MaxCompletionTokens int `yaml:"max_completion_tokens"`
	// Pricing in USD per million tokens (Request: per request).
	Pricing Pricing `yaml:"pricing"`
	// SupportedParameters are the request parameters the endpoint honours.
	SupportedParameters []string `yaml:"supported_parameters"`
	// InputModalities, e.g. [text, image]. Default [text].
	InputModalities []string `yaml:"input_modalities"`
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

// LoadFile reads, expands, decodes and validates the YAML file at path, then adds providers
// from the environment and fills defaults.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Default is the embedded default: no file, providers from the environment, sim on.
func Default(lookup func(string) (string, bool)) (*Config, error) {
	return Parse(nil, lookup)
}

// Parse decodes YAML (empty means the embedded default), expanding ${VAR} and ${VAR:-def}
// in scalar values with lookup, and returns a validated Config with defaults filled in.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	cfg := &Config{}
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
	addEnvProviders(cfg, lookup)
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
	for i := range c.Providers {
		p := &c.Providers[i]
		setDefault(&p.DisplayName, p.Name)
		setDefault(&p.Timeout, Duration(10*time.Minute))
		setDefault(&p.ConnectTimeout, Duration(10*time.Second))
		for j := range p.Models {
			m := &p.Models[j]
			setDefault(&m.UpstreamID, m.ID)
			setDefault(&m.Name, m.ID)
			if len(m.InputModalities) == 0 {
				m.InputModalities = []string{"text"}
			}
		}
	}
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

	names := map[string]bool{}
	ids := map[string]string{}
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
		if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f+".base_url", "want an absolute http(s) URL such as https://api.openai.com/v1, got %q", p.BaseURL)
		} else if u.RawQuery != "" || u.Fragment != "" {
			bad(f+".base_url", "must not have a query or fragment")
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
		if len(p.Models) == 0 && p.Passthrough == "" {
			bad(f+".models", "list at least one model, or set passthrough")
		}
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
			for _, alias := range append([]string{m.ID}, m.Aliases...) {
				if prev, dup := ids[alias]; dup && prev != p.Name {
					// The routing issue adds several endpoints per model; until then one model
					// has one provider, so a second claim is a configuration mistake.
					bad(mf+".id", "model %q is already served by provider %q", alias, prev)
				}
				ids[alias] = p.Name
			}
			if m.ContextLength < 0 || m.MaxCompletionTokens < 0 {
				bad(mf, "context_length and max_completion_tokens must not be negative")
			}
			pr := m.Pricing
			if pr.Prompt < 0 || pr.Completion < 0 || pr.Request < 0 || pr.InputCacheRead < 0 || pr.InputCacheWrite < 0 {
				bad(mf+".pricing", "prices must not be negative")
			}
		}
		if pt := p.Passthrough; pt != "" && pt != "*" && !strings.HasSuffix(pt, "/") {
			bad(f+".passthrough", "want \"*\" or a prefix ending in '/', such as \"openai/\", got %q", pt)
		}
	}
	return errs
}
