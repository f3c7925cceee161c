package health

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes the breaker and the statistics windows. A zero field means its default.
type Config struct {
	FailuresToOpen      int           // consecutive failures (5xx, connect errors, timeouts, 429s) that open the breaker; default 5
	Cooldown            time.Duration // first open period; default 10s; doubles after each failed half-open probe
	MaxCooldown         time.Duration // cap for cooldown and for Retry-After; default 5m
	ProbeLease          time.Duration // a half-open probe slot held longer than this is given to the next caller; default 2m
	DegradedWindow      time.Duration // window of "significant recent failures"; default 30s
	DegradedMinFailures int           // failures in the window needed to be degraded; default 3
	DegradedRatio       float64       // and failures/attempts in the window at least this; default 0.2
	StatsWindow         time.Duration // window of percentiles and uptime; default 30m, kept as 1-minute buckets
	// BreakerDisabled keeps every breaker closed (statistics and degraded still count):
	// for deployments that put their own breaker in front, and for tests of error fidelity.
	BreakerDisabled bool
}

// Defaults, exported so configuration documentation and the config package can quote them.
const (
	DefaultFailuresToOpen      = 5
	DefaultCooldown            = 10 * time.Second
	DefaultMaxCooldown         = 5 * time.Minute
	DefaultProbeLease          = 2 * time.Minute
	DefaultDegradedWindow      = 30 * time.Second
	DefaultDegradedMinFailures = 3
	DefaultDegradedRatio       = 0.2
	DefaultStatsWindow         = 30 * time.Minute
)

// WithDefaults returns c with every unset (zero or negative) field given its default. It also
// lowers Cooldown to MaxCooldown, so a registry built from any Config behaves sensibly; use
// Validate to reject such a Config instead of silently repairing it.
func (c Config) WithDefaults() Config {
	if c.FailuresToOpen <= 0 {
		c.FailuresToOpen = DefaultFailuresToOpen
	}
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = DefaultMaxCooldown
	}
	c.Cooldown = min(c.Cooldown, c.MaxCooldown)
	if c.ProbeLease <= 0 {
		c.ProbeLease = DefaultProbeLease
	}
	if c.DegradedWindow <= 0 {
		c.DegradedWindow = DefaultDegradedWindow
	}
	if c.DegradedMinFailures <= 0 {
		c.DegradedMinFailures = DefaultDegradedMinFailures
	}
	if !(c.DegradedRatio > 0) { // also catches NaN
		c.DegradedRatio = DefaultDegradedRatio
	}
	if c.StatsWindow <= 0 {
		c.StatsWindow = DefaultStatsWindow
	}
	return c
}

// Validate reports settings that WithDefaults would otherwise repair silently: negative
// values, a ratio outside [0, 1], a cooldown longer than its cap, a stats window shorter than
// its one-minute granularity.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, bad bool) {
		if bad {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	neg("failures_to_open", c.FailuresToOpen < 0)
	neg("cooldown", c.Cooldown < 0)
	neg("max_cooldown", c.MaxCooldown < 0)
	neg("probe_lease", c.ProbeLease < 0)
	neg("degraded_window", c.DegradedWindow < 0)
	neg("degraded_min_failures", c.DegradedMinFailures < 0)
	neg("stats_window", c.StatsWindow < 0)
	if math.IsNaN(c.DegradedRatio) || c.DegradedRatio < 0 || c.DegradedRatio > 1 {
		errs = append(errs, fmt.Errorf("degraded_ratio %v is outside [0, 1]", c.DegradedRatio))
	}
	d := c.WithDefaults()
	if c.Cooldown > d.MaxCooldown {
		errs = append(errs, fmt.Errorf("cooldown %v exceeds max_cooldown %v", c.Cooldown, d.MaxCooldown))
	}
	if c.StatsWindow > 0 && c.StatsWindow < time.Minute {
		errs = append(errs, fmt.Errorf("stats_window %v is shorter than its 1m granularity", c.StatsWindow))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("health: validate config: %w", err)
	}
	return nil
}
