package loadgen

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Op sends request seq (0, 1, 2, … in schedule order, unique within a run)
// to the system under test and waits for its answer.
//
// A nil error counts the request as OK, a non-nil one as an error. outcome
// labels the request in Result.ByOutcome, e.g. the HTTP status "202" or
// "503"; if it is empty the generator labels it OutcomeOK, OutcomeTimeout,
// OutcomeCanceled or OutcomeError. An Op that treats an answer as a failure
// (say a 503) returns both its label and an error.
//
// Op is called from many goroutines at once. It must return promptly once
// ctx is done: ctx expires after Config.Timeout and is cancelled when the
// run is cancelled or its Grace is over. An Op must not panic.
type Op func(ctx context.Context, seq int) (outcome string, err error)

// Sentinel causes for the contexts given to an Op, used to label outcomes.
var (
	errRequestTimeout = errors.New("loadgen: request timeout")
	errGraceExpired   = errors.New("loadgen: grace period over")
)

// Run drives op on cfg's open-loop schedule and waits until every scheduled
// request has completed or been dropped. cfg is filled with WithDefaults and
// must then Validate.
//
// Each request is due at a fixed offset from the start, however earlier
// requests fared, and its latency is measured from that scheduled time, so
// any delay in sending it counts against the system under test
// (coordinated omission is not hidden). The run ends at most Grace after the
// schedule does.
//
// If ctx is cancelled, Run stops scheduling, cancels the requests in flight,
// waits for their Ops to return and returns the result so far together with
// ctx.Err(). Any other error means the run did not start, and the Result is
// nil.
func Run(ctx context.Context, cfg Config, op Op) (*Result, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if op == nil {
		return nil, errors.New("loadgen: Run: op is nil")
	}

	r := &runner{
		cfg:       cfg,
		op:        op,
		sch:       newSchedule(cfg),
		sem:       make(chan struct{}, cfg.MaxOutstanding),
		latency:   new(Histogram),
		sendLag:   new(Histogram),
		interval:  new(Histogram),
		byOutcome: map[string]int{},
		latByOut:  map[string]*Histogram{},
	}
	r.start = time.Now()
	r.ctx = ctx
	if end := r.sch.end() + cfg.Grace; end >= cfg.Grace { // else it overflowed: no deadline
		var cancel context.CancelFunc
		r.ctx, cancel = context.WithDeadlineCause(ctx, r.start.Add(end), errGraceExpired)
		defer cancel()
	}

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if cfg.Progress != nil {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			r.reportProgress(stopProgress)
		}()
	}

	r.dispatch()
	r.inflight.Wait()
	elapsed := time.Since(r.start)
	close(stopProgress)
	progressDone.Wait()

	res := r.result(elapsed)
	return res, ctx.Err()
}

// runner is the state of one run. The dispatcher goroutine sends requests
// in schedule order; one goroutine per request runs the Op; everything they
// count is guarded by mu.
type runner struct {
	cfg      Config
	op       Op
	sch      schedule
	start    time.Time
	ctx      context.Context // cancelled when the run must stop
	sem      chan struct{}   // one token per outstanding request
	inflight sync.WaitGroup

	mu          sync.Mutex
	sent        int // sent = completed + outstanding
	ok, errs    int
	dropped     int
	byOutcome   map[string]int
	latency     *Histogram
	latByOut    map[string]*Histogram
	sendLag     *Histogram
	seconds     []secondAcc
	closedBelow int // seconds below this have every request sent or dropped
	interval    *Histogram
	intervalOK  int
	lastSnap    time.Duration
}

// secondAcc accumulates one Second; h is dropped once the second is final.
type secondAcc struct {
	Second
	outstanding int
	h           *Histogram
	final       bool
}

// dispatch sends or drops every scheduled request in order, at or after its
// due time, and returns when the schedule is exhausted or the run must stop.
func (r *runner) dispatch() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	done := r.ctx.Done()
	for seq := 0; ; seq++ {
		off, ok := r.sch.offset(seq)
		if !ok {
			return
		}
		select {
		case <-done:
			r.dropUnsent(seq)
			return
		default:
		}
		if wait := off - time.Since(r.start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-done:
				r.dropUnsent(seq)
				return
			}
		}
		select {
		case r.sem <- struct{}{}:
		default:
			if r.cfg.Saturation == SaturationDrop {
				r.drop(seq, off, OutcomeSaturated)
				continue
			}
			select {
			case r.sem <- struct{}{}:
			case <-done:
				r.dropUnsent(seq)
				return
			}
		}
		if r.ctx.Err() != nil { // the slot may have freed because the run ended
			<-r.sem
			r.dropUnsent(seq)
			return
		}
		r.send(seq, off)
	}
}

// dropUnsent counts requests from..due(now) as dropped: they came due but
// the run stopped before they could be sent.
func (r *runner) dropUnsent(from int) {
	due := r.sch.due(time.Since(r.start))
	for seq := from; seq < due; seq++ {
		off, _ := r.sch.offset(seq)
		r.drop(seq, off, OutcomeUnsent)
	}
}

func (r *runner) drop(seq int, off time.Duration, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped++
	r.byOutcome[outcome]++
	sec := r.second(off)
	sec.Scheduled++
	sec.Dropped++
}

// send starts request seq; the caller holds a token in sem.
func (r *runner) send(seq int, off time.Duration) {
	r.mu.Lock()
	r.sent++
	sec := r.second(off)
	sec.Scheduled++
	sec.Sent++
	sec.outstanding++
	r.mu.Unlock()

	r.inflight.Add(1)
	go func() {
		defer r.inflight.Done()
		defer func() { <-r.sem }()
		ctx, cancel := context.WithTimeoutCause(r.ctx, r.cfg.Timeout, errRequestTimeout)
		defer cancel()
		sentAt := time.Since(r.start)
		outcome, err := r.op(ctx, seq)
		doneAt := time.Since(r.start)
		r.complete(off, sentAt-off, doneAt-off, label(ctx, outcome, err), err == nil)
	}()
}

// label names the outcome of a request whose Op returned outcome and err.
func label(ctx context.Context, outcome string, err error) string {
	switch {
	case outcome != "":
		return outcome
	case err == nil:
		return OutcomeOK
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), errRequestTimeout):
		return OutcomeTimeout
	case ctx.Err() != nil:
		return OutcomeCanceled
	}
	var t interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout()) {
		return OutcomeTimeout
	}
	return OutcomeError
}

func (r *runner) complete(off, lag, latency time.Duration, outcome string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sec := r.second(off)
	if ok {
		r.ok++
		sec.OK++
		r.intervalOK++
	} else {
		r.errs++
		sec.Errors++
	}
	r.byOutcome[outcome]++
	r.latency.Record(latency)
	h := r.latByOut[outcome]
	if h == nil {
		h = new(Histogram)
		r.latByOut[outcome] = h
	}
	h.Record(latency)
	r.sendLag.Record(lag)
	r.interval.Record(latency)
	sec.h.Record(latency)
	sec.outstanding--
	r.finalize(int(off / time.Second))
}

// second returns the accumulator for the second holding off, closing the
// seconds before it: the dispatcher works in schedule order, so no request
// due earlier is still to be sent. r.mu must be held.
func (r *runner) second(off time.Duration) *secondAcc {
	k := int(off / time.Second)
	for len(r.seconds) <= k {
		n := len(r.seconds)
		r.seconds = append(r.seconds, secondAcc{Second: Second{Start: time.Duration(n) * time.Second}, h: new(Histogram)})
	}
	for ; r.closedBelow < k; r.closedBelow++ {
		r.finalize(r.closedBelow)
	}
	return &r.seconds[k]
}

// finalize computes second k's quantiles and frees its histogram once no
// request due in it can still complete. r.mu must be held.
func (r *runner) finalize(k int) {
	s := &r.seconds[k]
	if s.final || k >= r.closedBelow || s.outstanding > 0 {
		return
	}
	q := s.h.Quantiles(0.5, 0.99, 0.999, 1)
	s.P50, s.P99, s.P999, s.Max = q[0], q[1], q[2], q[3]
	s.h, s.final = nil, true
}

// reportProgress calls cfg.Progress every ProgressEvery until stop closes.
func (r *runner) reportProgress(stop <-chan struct{}) {
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.cfg.Progress(r.snapshot())
		}
	}
}

func (r *runner) snapshot() Snapshot {
	now := time.Since(r.start)
	due := r.sch.due(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	completed := r.ok + r.errs
	s := Snapshot{
		Elapsed:     now,
		TargetRate:  r.sch.rateAt(now),
		Scheduled:   max(due, r.sent+r.dropped),
		Sent:        r.sent,
		Outstanding: r.sent - completed,
		Completed:   completed,
		OK:          r.ok,
		Errors:      r.errs,
		Dropped:     r.dropped,
	}
	s.Waiting = s.Scheduled - r.sent - r.dropped
	if d := now - r.lastSnap; d > 0 {
		s.Throughput = float64(r.intervalOK) / d.Seconds()
	}
	q := r.interval.Quantiles(0.5, 0.99, 1)
	s.P50, s.P99, s.Max = q[0], q[1], q[2]
	r.interval, r.intervalOK, r.lastSnap = new(Histogram), 0, now
	return s
}

// result assembles the Result once every request has finished.
func (r *runner) result(elapsed time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closedBelow = len(r.seconds)
	per := make([]Second, len(r.seconds))
	for k := range r.seconds {
		r.finalize(k)
		per[k] = r.seconds[k].Second
	}
	res := &Result{
		Config:           r.cfg,
		Start:            r.start,
		Scheduled:        r.sent + r.dropped,
		Completed:        r.ok + r.errs,
		OK:               r.ok,
		Errors:           r.errs,
		Dropped:          r.dropped,
		Elapsed:          elapsed,
		Latency:          r.latency,
		LatencyByOutcome: r.latByOut,
		SendLag:          r.sendLag,
		ByOutcome:        r.byOutcome,
		PerSecond:        per,
	}
	if elapsed > 0 {
		res.Throughput = float64(r.ok) / elapsed.Seconds()
	}
	return res
}
