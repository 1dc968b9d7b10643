package loadgen

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults for Config.
const (
	DefaultMaxOutstanding = 10000
	DefaultTimeout        = 30 * time.Second
	DefaultGrace          = 30 * time.Second
	DefaultProgressEvery  = time.Second
)

// SaturationPolicy says what happens to a request whose send time has come
// while Config.MaxOutstanding requests are already outstanding.
type SaturationPolicy int

const (
	// SaturationWait holds the request until a slot frees, then sends it.
	// Its latency is still measured from its scheduled send time, so the
	// wait is counted, never hidden; requests scheduled after it queue
	// behind it (no more goroutines or memory are used while they wait).
	SaturationWait SaturationPolicy = iota
	// SaturationDrop does not send the request. It is counted in
	// Result.Dropped and under OutcomeSaturated, and has no latency. Use it
	// to keep a flood against a stalled system bounded in time.
	SaturationDrop
)

// String returns "wait" or "drop".
func (p SaturationPolicy) String() string {
	switch p {
	case SaturationWait:
		return "wait"
	case SaturationDrop:
		return "drop"
	}
	return fmt.Sprintf("SaturationPolicy(%d)", int(p))
}

// Config configures a load run. The arrival schedule is open loop: request
// i is due at a fixed offset from the start of the run that depends only on
// the rates, never on how earlier requests fared.
type Config struct {
	// Rate is the arrival rate, in requests per second, once any ramp is
	// over. Required; it must be positive.
	Rate float64
	// RampFrom is the arrival rate at the start of the run when RampDuration
	// is set; the rate then changes linearly to Rate over RampDuration and
	// holds there. Ignored without a RampDuration. Defaults to 0.
	RampFrom float64
	// RampDuration is the length of the linear ramp from RampFrom to Rate.
	// Defaults to 0: a constant Rate from the start.
	RampDuration time.Duration
	// Duration bounds the schedule: only requests due before Duration (from
	// the start) are scheduled. At least one of Duration and Count must be
	// set. Defaults to 0: no time bound.
	Duration time.Duration
	// Count bounds the number of requests scheduled. At least one of
	// Duration and Count must be set. Defaults to 0: no count bound.
	Count int
	// MaxOutstanding caps the requests in flight at once; Saturation says
	// what happens to a request that is due while the cap is reached.
	// Defaults to 10000.
	MaxOutstanding int
	// Saturation is the policy for requests due while MaxOutstanding are in
	// flight. Defaults to SaturationWait.
	Saturation SaturationPolicy
	// Timeout bounds each request, from its actual send: the Op's context
	// expires then and the request counts under OutcomeTimeout (unless the
	// Op names its own outcome). Defaults to 30s.
	Timeout time.Duration
	// Grace bounds the end of the run: once the last request's scheduled
	// time is Grace in the past, requests still waiting to be sent are
	// dropped (OutcomeUnsent) and the contexts of those in flight are
	// cancelled (OutcomeCanceled). Defaults to 30s.
	Grace time.Duration
	// Progress, if set, receives a Snapshot every ProgressEvery while the
	// run lasts. It is called from one goroutine, never concurrently and
	// never after Run returns; a slow Progress delays later snapshots (and
	// the return of Run) but not the load. Defaults to nil: no snapshots.
	Progress func(Snapshot)
	// ProgressEvery is the interval between Progress calls. Defaults to 1s.
	ProgressEvery time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxOutstanding == 0 {
		c.MaxOutstanding = DefaultMaxOutstanding
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = DefaultProgressEvery
	}
	return c
}

// Validate reports the first invalid field. Run validates c.WithDefaults().
func (c Config) Validate() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(c.Rate) || c.Rate <= 0:
		return fmt.Errorf("loadgen: Rate: must be a positive number of requests per second, got %v", c.Rate)
	case !finite(c.RampFrom) || c.RampFrom < 0:
		return fmt.Errorf("loadgen: RampFrom: must be a non-negative number of requests per second, got %v", c.RampFrom)
	case c.RampDuration < 0:
		return fmt.Errorf("loadgen: RampDuration: must not be negative, got %v", c.RampDuration)
	case c.Duration < 0:
		return fmt.Errorf("loadgen: Duration: must not be negative, got %v", c.Duration)
	case c.Count < 0:
		return fmt.Errorf("loadgen: Count: must not be negative, got %d", c.Count)
	case c.Duration == 0 && c.Count == 0:
		return errors.New("loadgen: Duration and Count: at least one must be set, or the run never ends")
	case c.MaxOutstanding <= 0:
		return fmt.Errorf("loadgen: MaxOutstanding: must be positive, got %d", c.MaxOutstanding)
	case c.Saturation != SaturationWait && c.Saturation != SaturationDrop:
		return fmt.Errorf("loadgen: Saturation: unknown policy %v", c.Saturation)
	case c.Timeout <= 0:
		return fmt.Errorf("loadgen: Timeout: must be positive, got %v", c.Timeout)
	case c.Grace <= 0:
		return fmt.Errorf("loadgen: Grace: must be positive, got %v", c.Grace)
	case c.ProgressEvery <= 0:
		return fmt.Errorf("loadgen: ProgressEvery: must be positive, got %v", c.ProgressEvery)
	}
	return nil
}
