package loadgen

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Outcome labels the generator assigns itself. An Op's own non-empty
// outcome (such as "202" or "503") is always used as given.
const (
	// OutcomeOK labels a request whose Op returned no error and no outcome.
	OutcomeOK = "ok"
	// OutcomeError labels a request whose Op returned an error and no
	// outcome, when the error is not one of the kinds below.
	OutcomeError = "error"
	// OutcomeTimeout labels a request that failed with no outcome because
	// Config.Timeout expired, or with an error that is
	// context.DeadlineExceeded or reports Timeout() == true.
	OutcomeTimeout = "timeout"
	// OutcomeCanceled labels a request that failed with no outcome because
	// the run was cancelled or its Grace expired while it was in flight.
	OutcomeCanceled = "canceled"
	// OutcomeSaturated labels a request dropped under SaturationDrop
	// because MaxOutstanding requests were in flight when it was due.
	OutcomeSaturated = "dropped: generator saturated"
	// OutcomeUnsent labels a request that was due but still waiting for a
	// slot (SaturationWait) when the run was cancelled or its Grace expired.
	OutcomeUnsent = "dropped: not sent before the run ended"
)

// Result is the outcome of a run. Every scheduled request is counted exactly
// once: Scheduled = Completed + Dropped, Completed = OK + Errors, and the
// counts in ByOutcome add up to Scheduled.
type Result struct {
	// Config is the configuration the run used, defaults filled in.
	Config Config
	// Start is when the schedule started: request i was due at Start plus
	// its offset.
	Start time.Time
	// Scheduled counts requests that came due, whether sent or not.
	Scheduled int
	// Completed counts requests sent whose Op returned.
	Completed int
	// OK counts completed requests whose Op returned a nil error.
	OK int
	// Errors counts completed requests whose Op returned an error.
	Errors int
	// Dropped counts requests that came due but were never sent; see
	// OutcomeSaturated and OutcomeUnsent.
	Dropped int
	// Elapsed is the time from Start until the last request finished.
	Elapsed time.Duration
	// Throughput is OK requests per second of Elapsed.
	Throughput float64
	// Latency holds, for every completed request (OK or not), the time
	// from its scheduled send time to the Op's return. Any delay in
	// sending it, whether the generator's or the MaxOutstanding cap's, is
	// included.
	Latency *Histogram
	// LatencyByOutcome splits Latency by outcome label, e.g. to read the
	// P99 of "202" answers alone.
	LatencyByOutcome map[string]*Histogram
	// SendLag holds, for every completed request, how late it was sent:
	// from its scheduled send time to the call of the Op. Large values mean
	// the generator (CPU starved, or waiting on MaxOutstanding) rather than
	// the system under test delayed requests.
	SendLag *Histogram
	// ByOutcome counts requests by outcome label, including the dropped.
	ByOutcome map[string]int
	// PerSecond splits the run by scheduled send time into one-second
	// buckets; bucket k holds the requests due in [k s, (k+1) s).
	PerSecond []Second
}

// Second is the part of a run whose requests were due within one second.
type Second struct {
	// Start is the offset of this second from Result.Start.
	Start time.Duration
	// Scheduled counts requests due in this second; Scheduled = Sent + Dropped.
	Scheduled int
	// Sent counts those sent; once the run is over, Sent = OK + Errors.
	Sent int
	// OK and Errors count those completed, with a nil and non-nil error.
	OK, Errors int
	// Dropped counts those never sent.
	Dropped int
	// P50, P99, P999 and Max are the latencies (from scheduled send time)
	// of the completed requests due in this second; zero when none completed.
	P50, P99, P999, Max time.Duration
}

// Snapshot is the progress of a run so far, given to Config.Progress.
type Snapshot struct {
	// Elapsed is the time since the start of the run.
	Elapsed time.Duration
	// TargetRate is the arrival rate the schedule calls for now.
	TargetRate float64
	// Scheduled counts requests due so far: Scheduled = Sent + Waiting + Dropped.
	Scheduled int
	// Sent counts requests sent so far: Sent = Completed + Outstanding.
	Sent int
	// Waiting counts requests due but not yet sent because MaxOutstanding
	// are in flight (SaturationWait only).
	Waiting int
	// Outstanding counts requests in flight.
	Outstanding int
	// Completed, OK, Errors and Dropped are as in Result, so far.
	Completed, OK, Errors, Dropped int
	// Throughput is OK requests per second since the previous snapshot.
	Throughput float64
	// P50, P99 and Max are the latencies (from scheduled send time) of the
	// requests completed since the previous snapshot; zero when none did.
	P50, P99, Max time.Duration
}

// Summary renders the result as a small report: the schedule, the counts,
// the latency percentiles (P50, P90, P99, P99.9, max, from the scheduled
// send time), the send lag and the outcomes.
func (r *Result) Summary() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "schedule: %s, max %d outstanding, %s when saturated\n",
		describeSchedule(c), c.MaxOutstanding, c.Saturation)
	fmt.Fprintf(&b, "requests: %d scheduled, %d completed (%d ok, %d errors), %d dropped\n",
		r.Scheduled, r.Completed, r.OK, r.Errors, r.Dropped)
	fmt.Fprintf(&b, "elapsed:  %s, throughput %.1f ok/s\n", roundDuration(r.Elapsed), r.Throughput)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tp50\tp90\tp99\tp99.9\tmax\tmean\t")
	row := func(name string, h *Histogram) {
		if h == nil {
			h = new(Histogram)
		}
		fmt.Fprintf(tw, "%s\t", name)
		for _, d := range h.Quantiles(0.5, 0.9, 0.99, 0.999, 1) {
			fmt.Fprintf(tw, "%s\t", roundDuration(d))
		}
		fmt.Fprintf(tw, "%s\t\n", roundDuration(h.Mean()))
	}
	row("latency", r.Latency)
	row("send lag", r.SendLag)
	tw.Flush()

	if len(r.ByOutcome) > 0 {
		fmt.Fprintln(&b, "outcomes:")
		names := make([]string, 0, len(r.ByOutcome))
		for o := range r.ByOutcome {
			names = append(names, o)
		}
		sort.Slice(names, func(i, j int) bool {
			if r.ByOutcome[names[i]] != r.ByOutcome[names[j]] {
				return r.ByOutcome[names[i]] > r.ByOutcome[names[j]]
			}
			return names[i] < names[j]
		})
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, o := range names {
			n := r.ByOutcome[o]
			p99 := "-"
			if h := r.LatencyByOutcome[o]; h != nil {
				p99 = roundDuration(h.Quantile(0.99)).String()
			}
			fmt.Fprintf(tw, "  %s\t%d\t%.2f%%\tp99 %s\n", o, n, 100*float64(n)/float64(max(r.Scheduled, 1)), p99)
		}
		tw.Flush()
	}
	return b.String()
}

func describeSchedule(c Config) string {
	var parts []string
	if c.RampDuration > 0 {
		parts = append(parts, fmt.Sprintf("ramp %g/s to %g/s over %s, then %g/s", c.RampFrom, c.Rate, c.RampDuration, c.Rate))
	} else {
		parts = append(parts, fmt.Sprintf("%g/s", c.Rate))
	}
	if c.Duration > 0 {
		parts = append(parts, "for "+c.Duration.String())
	}
	if c.Count > 0 {
		parts = append(parts, fmt.Sprintf("at most %d requests", c.Count))
	}
	return strings.Join(parts, ", ")
}

// roundDuration keeps about four significant digits.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}
