package loadgen

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkInvariants asserts that every scheduled request is counted exactly
// once, overall and per second.
func checkInvariants(t *testing.T, res *Result) {
	t.Helper()
	if res.Scheduled != res.Completed+res.Dropped || res.Completed != res.OK+res.Errors {
		t.Errorf("Scheduled %d, Completed %d (OK %d + Errors %d), Dropped %d do not add up",
			res.Scheduled, res.Completed, res.OK, res.Errors, res.Dropped)
	}
	sum := 0
	for _, n := range res.ByOutcome {
		sum += n
	}
	if sum != res.Scheduled {
		t.Errorf("ByOutcome %v adds up to %d, want Scheduled %d", res.ByOutcome, sum, res.Scheduled)
	}
	if res.Latency.Count() != int64(res.Completed) || res.SendLag.Count() != int64(res.Completed) {
		t.Errorf("Latency has %d values, SendLag %d; want Completed %d", res.Latency.Count(), res.SendLag.Count(), res.Completed)
	}
	for o, h := range res.LatencyByOutcome {
		if h.Count() != int64(res.ByOutcome[o]) {
			t.Errorf("LatencyByOutcome[%q] has %d values, ByOutcome %d", o, h.Count(), res.ByOutcome[o])
		}
	}
	var s Second
	for k, sec := range res.PerSecond {
		if sec.Start != time.Duration(k)*time.Second {
			t.Errorf("PerSecond[%d].Start = %v", k, sec.Start)
		}
		if sec.Scheduled != sec.Sent+sec.Dropped || sec.Sent != sec.OK+sec.Errors {
			t.Errorf("PerSecond[%d] = %+v does not add up", k, sec)
		}
		if sec.OK+sec.Errors > 0 && (sec.P50 <= 0 || sec.P50 > sec.P99 || sec.P99 > sec.P999 || sec.P999 > sec.Max) {
			t.Errorf("PerSecond[%d] quantiles %v %v %v %v out of order", k, sec.P50, sec.P99, sec.P999, sec.Max)
		}
		s.Scheduled += sec.Scheduled
		s.OK += sec.OK
		s.Errors += sec.Errors
		s.Dropped += sec.Dropped
	}
	if s.Scheduled != res.Scheduled || s.OK != res.OK || s.Errors != res.Errors || s.Dropped != res.Dropped {
		t.Errorf("PerSecond totals %+v differ from the Result", s)
	}
}

func run(t *testing.T, ctx context.Context, cfg Config, op Op) *Result {
	t.Helper()
	res, err := Run(ctx, cfg, op)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkInvariants(t, res)
	return res
}

func TestConfig(t *testing.T) {
	t.Parallel()
	d := Config{Rate: 1, Count: 1}.WithDefaults()
	if d.MaxOutstanding != DefaultMaxOutstanding || d.Timeout != DefaultTimeout || d.Grace != DefaultGrace ||
		d.ProgressEvery != DefaultProgressEvery || d.Saturation != SaturationWait {
		t.Errorf("WithDefaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate(defaults) = %v", err)
	}
	nan := 0.0
	nan /= nan
	for field, c := range map[string]Config{
		"Rate":           {Count: 1},
		"Rate ":          {Rate: nan, Count: 1},
		"RampFrom":       {Rate: 1, RampFrom: -1, Count: 1},
		"RampDuration":   {Rate: 1, RampDuration: -1, Count: 1},
		"Duration":       {Rate: 1, Duration: -1, Count: 1},
		"Count":          {Rate: 1, Count: -1, Duration: 1},
		"Duration and":   {Rate: 1},
		"MaxOutstanding": {Rate: 1, Count: 1, MaxOutstanding: -1},
		"Saturation":     {Rate: 1, Count: 1, Saturation: 7},
		"Timeout":        {Rate: 1, Count: 1, Timeout: -1},
		"Grace":          {Rate: 1, Count: 1, Grace: -1},
		"ProgressEvery":  {Rate: 1, Count: 1, ProgressEvery: -1},
	} {
		err := c.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), "loadgen: "+strings.TrimSpace(field)) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c, err, field)
		}
		if res, err := Run(context.Background(), c, func(context.Context, int) (string, error) { return "", nil }); err == nil || res != nil {
			t.Errorf("Run with bad %s = %v, %v; want nil and an error", field, res, err)
		}
	}
	if _, err := Run(context.Background(), Config{Rate: 1, Count: 1}, nil); err == nil {
		t.Errorf("Run with nil op succeeded")
	}
}

func TestRunCountsEveryRequestAndOutcome(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	res := run(t, context.Background(), Config{Rate: 2000, Count: 400}, func(_ context.Context, seq int) (string, error) {
		switch seq % 5 {
		case 0:
			return "202", nil
		case 1:
			return "503", errBoom
		case 2:
			return "", nil
		case 3:
			return "", errBoom
		}
		return "", context.DeadlineExceeded // the op's own deadline
	})
	want := map[string]int{"202": 80, "503": 80, OutcomeOK: 80, OutcomeError: 80, OutcomeTimeout: 80}
	if res.Scheduled != 400 || res.OK != 160 || res.Errors != 240 || res.Dropped != 0 || len(res.ByOutcome) != len(want) {
		t.Errorf("Scheduled %d OK %d Errors %d Dropped %d ByOutcome %v", res.Scheduled, res.OK, res.Errors, res.Dropped, res.ByOutcome)
	}
	for o, n := range want {
		if res.ByOutcome[o] != n {
			t.Errorf("ByOutcome[%q] = %d, want %d", o, res.ByOutcome[o], n)
		}
	}
	if res.Throughput <= 0 || res.Elapsed < 199*time.Millisecond {
		t.Errorf("Throughput %v, Elapsed %v; the last request is due at 199.5ms", res.Throughput, res.Elapsed)
	}
	sum := res.Summary()
	for _, s := range []string{"400 scheduled", "p99.9", "latency", "send lag", "503", "2000/s"} {
		if !strings.Contains(sum, s) {
			t.Errorf("Summary lacks %q:\n%s", s, sum)
		}
	}
}

// TestRunNeverSendsEarly checks the schedule in real time, ramp included:
// the right number of requests, none sent before it is due, most sent soon
// after (with slack generous enough for a loaded 2-core machine). It is
// not parallel, so that it runs alone.
func TestRunNeverSendsEarly(t *testing.T) {
	cfg := Config{RampFrom: 100, Rate: 1000, RampDuration: 500 * time.Millisecond, Duration: time.Second}
	sch := newSchedule(cfg)
	sentAt := make([]time.Time, 1000)
	res := run(t, context.Background(), cfg, func(_ context.Context, seq int) (string, error) {
		sentAt[seq] = time.Now()
		return "", nil
	})
	// ∫ over the ramp (100+1000)/2·0.5 = 275, then 1000/s for 0.5s.
	if res.Scheduled < 774 || res.Scheduled > 776 || res.OK != res.Scheduled {
		t.Fatalf("Scheduled %d, OK %d; want 775±1 all OK", res.Scheduled, res.OK)
	}
	lateness := make([]time.Duration, res.Scheduled)
	for seq := range lateness {
		off, _ := sch.offset(seq)
		lateness[seq] = sentAt[seq].Sub(res.Start) - off
		if lateness[seq] < 0 {
			t.Fatalf("request %d sent %v before it was due", seq, -lateness[seq])
		}
	}
	slices.Sort(lateness)
	if med := lateness[len(lateness)/2]; med > 500*time.Millisecond {
		t.Errorf("median send lateness %v; the generator cannot keep 1000/s", med)
	}
	if res.Elapsed < 999*time.Millisecond || res.Elapsed > 10*time.Second {
		t.Errorf("Elapsed %v for a 1s schedule", res.Elapsed)
	}
	if res.Throughput < 100 || res.Throughput > 800 {
		t.Errorf("Throughput %.0f/s, want about 775/s", res.Throughput)
	}
	if len(res.PerSecond) != 1 || res.PerSecond[0].Scheduled != res.Scheduled {
		t.Errorf("PerSecond = %+v", res.PerSecond)
	}
}

// TestRunWaitWhenSaturated holds the only slot until five requests are due:
// the four queued behind it are sent late, and that wait is in their
// latency.
func TestRunWaitWhenSaturated(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	res := run(t, context.Background(), Config{
		Rate: 100, Count: 5, MaxOutstanding: 1, ProgressEvery: 5 * time.Millisecond,
		Progress: func(s Snapshot) {
			if s.Scheduled == 5 {
				once.Do(func() { // request 0 is still held
					if s.Waiting != 4 || s.Outstanding != 1 {
						t.Errorf("snapshot %+v: want 4 waiting behind 1 outstanding", s)
					}
					close(release)
				})
			}
		},
	}, func(_ context.Context, seq int) (string, error) {
		if seq == 0 {
			<-release
		}
		return "", nil
	})
	if res.OK != 5 || res.Dropped != 0 {
		t.Errorf("OK %d Dropped %d, want 5 and 0", res.OK, res.Dropped)
	}
	// Request 0 is released after request 4 is due (40ms); request 1, due
	// at 10ms, cannot be sent before then.
	if res.Latency.Max() < 40*time.Millisecond || res.SendLag.Max() < 30*time.Millisecond {
		t.Errorf("max latency %v, max send lag %v; want ≥ 40ms and ≥ 30ms", res.Latency.Max(), res.SendLag.Max())
	}
}

// TestRunDropWhenSaturated: with two slots held, the other eight requests
// are dropped and counted, not skipped.
func TestRunDropWhenSaturated(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	res := run(t, context.Background(), Config{
		Rate: 1000, Count: 10, MaxOutstanding: 2, Saturation: SaturationDrop, ProgressEvery: 5 * time.Millisecond,
		Progress: func(s Snapshot) {
			if s.Dropped == 8 {
				once.Do(func() { close(release) })
			}
		},
	}, func(context.Context, int) (string, error) {
		<-release
		return "", nil
	})
	if res.Scheduled != 10 || res.OK != 2 || res.Dropped != 8 || res.ByOutcome[OutcomeSaturated] != 8 {
		t.Errorf("Scheduled %d OK %d Dropped %d ByOutcome %v", res.Scheduled, res.OK, res.Dropped, res.ByOutcome)
	}
	if !strings.Contains(res.Summary(), OutcomeSaturated) {
		t.Errorf("Summary does not show the drops:\n%s", res.Summary())
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), Config{Rate: 1000, Count: 3, Timeout: 20 * time.Millisecond},
		func(ctx context.Context, _ int) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
	if res.ByOutcome[OutcomeTimeout] != 3 || res.Errors != 3 {
		t.Errorf("ByOutcome %v, want 3 timeouts", res.ByOutcome)
	}
	if res.Latency.Min() < 20*time.Millisecond {
		t.Errorf("min latency %v is shorter than the 20ms timeout", res.Latency.Min())
	}
}

// TestRunGrace: once Grace is over, the request in flight is cancelled and
// those still waiting for a slot are dropped; Run itself succeeds.
func TestRunGrace(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), Config{Rate: 1000, Count: 5, MaxOutstanding: 1, Grace: 30 * time.Millisecond},
		func(ctx context.Context, _ int) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
	if res.ByOutcome[OutcomeCanceled] != 1 || res.ByOutcome[OutcomeUnsent] != 4 || res.Dropped != 4 {
		t.Errorf("ByOutcome %v, want 1 canceled and 4 unsent", res.ByOutcome)
	}
	if res.Elapsed < 34*time.Millisecond {
		t.Errorf("Elapsed %v, want at least the 4ms schedule plus 30ms grace", res.Elapsed)
	}

	// A single request: the schedule ends at once, the grace still applies.
	res = run(t, context.Background(), Config{Rate: 1, Count: 1, Grace: 10 * time.Millisecond},
		func(ctx context.Context, _ int) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
	if res.ByOutcome[OutcomeCanceled] != 1 {
		t.Errorf("ByOutcome %v, want 1 canceled", res.ByOutcome)
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, Config{Rate: 1000, Count: 100_000}, func(ctx context.Context, seq int) (string, error) {
		if seq == 10 {
			cancel()
		}
		if seq%2 == 0 {
			<-ctx.Done() // in flight when the run is cancelled
			return "", ctx.Err()
		}
		return "", nil
	})
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("Run = %v, %v; want a partial result and context.Canceled", res, err)
	}
	checkInvariants(t, res)
	if res.Scheduled < 11 || res.Scheduled >= 100_000 || res.ByOutcome[OutcomeCanceled] < 6 {
		t.Errorf("Scheduled %d ByOutcome %v", res.Scheduled, res.ByOutcome)
	}
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	var returned atomic.Bool
	seen := make(chan Snapshot, 1)
	res := run(t, context.Background(), Config{
		Rate: 50, Count: 2, ProgressEvery: 5 * time.Millisecond,
		Progress: func(s Snapshot) {
			if returned.Load() {
				t.Errorf("Progress called after Run returned")
			}
			if s.Outstanding > 0 {
				select {
				case seen <- s:
				default:
				}
			}
		},
	}, func(_ context.Context, seq int) (string, error) {
		if seq == 0 {
			s := <-seen // hold request 0 until a snapshot shows it in flight
			select {
			case seen <- s: // put it back for the checks below
			default: // Progress refilled the channel meanwhile; that one will do
			}
		}
		return "", nil
	})
	returned.Store(true)
	s := <-seen
	if s.Sent < 1 || s.Completed != s.Sent-s.Outstanding || s.Elapsed <= 0 || s.TargetRate != 50 {
		t.Errorf("snapshot %+v", s)
	}
	if res.OK != 2 {
		t.Errorf("OK = %d, want 2", res.OK)
	}
}

// BenchmarkRunOverhead measures the generator's own cost per request: the
// schedule (10M/s) is always ahead of it, so it sends as fast as it can.
func BenchmarkRunOverhead(b *testing.B) {
	res, err := Run(context.Background(), Config{Rate: 1e7, Count: b.N}, func(context.Context, int) (string, error) {
		return "", nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Throughput, "req/s")
}
