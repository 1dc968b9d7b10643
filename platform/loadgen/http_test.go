package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// These tests drive real HTTP servers whose service times are known, and
// assert only facts that follow from those service times: lower bounds that
// no machine can beat, and order-of-magnitude contrasts.

const serviceTime = 20 * time.Millisecond

// serialServer answers one request at a time, in arrival order, each taking
// serviceTime: a server with a capacity of 50 requests per second.
func serialServer(t *testing.T) *httptest.Server {
	t.Helper()
	jobs := make(chan chan struct{})
	stop := make(chan struct{})
	worker := make(chan struct{})
	go func() {
		defer close(worker)
		for {
			select {
			case done := <-jobs:
				<-time.After(serviceTime) // the work
				close(done)
			case <-stop:
				return
			}
		}
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		select {
		case jobs <- done: // blocked senders queue in FIFO order
		case <-r.Context().Done():
			return
		}
		<-done
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		srv.Close()
		close(stop)
		<-worker
	})
	return srv
}

// delayServer answers every request after delay, concurrently.
func delayServer(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			w.WriteHeader(http.StatusAccepted)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// httpOp posts to url; statuses other than 200 and 202 are failures.
// If measured is not nil it records the op's own view of latency: from the
// moment it sends to the answer, which is what a closed-loop tool reports.
func httpOp(t *testing.T, url string, measured *Histogram) Op {
	tr := &http.Transport{MaxIdleConnsPerHost: 1000}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	return func(ctx context.Context, _ int) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return "", err
		}
		begin := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if measured != nil {
			measured.Record(time.Since(begin))
		}
		code := strconv.Itoa(resp.StatusCode)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			return code, fmt.Errorf("status %s", code)
		}
		return code, nil
	}
}

// TestOverloadedServerLatencyGrows drives the 50/s serial server at 100/s.
// Answer k cannot come before k·20ms, while request i is due at i·10ms, so
// the latency of request i is at least 10ms·i + 20ms: it grows through the
// run, and the mean over 150 requests is at least 765ms, far above the
// 20ms service time. A generator that timed from the actual send, or held
// back while the server was slow, would hide this.
func TestOverloadedServerLatencyGrows(t *testing.T) {
	srv := serialServer(t)
	res := run(t, context.Background(), Config{Rate: 100, Count: 150}, httpOp(t, srv.URL, nil))
	t.Logf("\n%s", res.Summary())
	if res.OK != 150 || res.ByOutcome["200"] != 150 {
		t.Fatalf("OK %d ByOutcome %v, want 150 answers", res.OK, res.ByOutcome)
	}
	if mean := res.Latency.Mean(); mean < 10*serviceTime {
		t.Errorf("mean latency %v, want ≥ 10× the %v service time (≥ 765ms by construction)", mean, serviceTime)
	}
	if p50, max := res.Latency.Quantile(0.5), res.Latency.Max(); p50 < 5*serviceTime || max < 20*serviceTime {
		t.Errorf("p50 %v, max %v; want ≥ 100ms and ≥ 400ms (≥ 760ms and ≥ 1.51s by construction)", p50, max)
	}
	if len(res.PerSecond) != 2 {
		t.Fatalf("PerSecond has %d seconds, want 2", len(res.PerSecond))
	}
	first, second := res.PerSecond[0], res.PerSecond[1]
	if first.Scheduled != 100 || second.Scheduled != 50 || second.P50 <= first.P50 {
		t.Errorf("per second %+v then %+v: want 100 then 50 requests with a growing p50", first, second)
	}
	// The per-second series (what the flood report plots) carries the same
	// queueing: every request due in the second second (i ≥ 100) waits at
	// least 10ms·i + 20ms ≥ 1.02s from its scheduled time.
	if second.P50 < time.Second || second.P999 < second.P99 || second.P999 < time.Second {
		t.Errorf("second second p50 %v p999 %v: want ≥ 1s by construction (queueing from the schedule counts)", second.P50, second.P999)
	}
}

// TestSaturatedGeneratorDoesNotHideQueueing caps the generator at one
// outstanding request, which makes it send like a closed-loop client: one
// request at a time, each taking about the service time. Measured from
// the actual send, every request looks like 20ms; measured from the
// schedule (100/s), request i waits for the i before it, so the median is
// about ten times larger. loadgen reports the latter.
func TestSaturatedGeneratorDoesNotHideQueueing(t *testing.T) {
	srv := serialServer(t)
	var closedLoop Histogram
	res := run(t, context.Background(), Config{Rate: 100, Count: 40, MaxOutstanding: 1}, httpOp(t, srv.URL, &closedLoop))
	t.Logf("\n%s", res.Summary())
	if res.OK != 40 || res.Dropped != 0 {
		t.Fatalf("OK %d Dropped %d, want 40 and 0", res.OK, res.Dropped)
	}
	naive, honest := closedLoop.Quantile(0.5), res.Latency.Quantile(0.5)
	if naive < serviceTime {
		t.Errorf("closed-loop median %v is below the service time", naive)
	}
	if honest < 4*naive {
		t.Errorf("median from schedule %v, from send %v: want ≥ 4× (about 10× by construction)", honest, naive)
	}
	if lag := res.SendLag.Quantile(0.5); lag < 5*serviceTime {
		t.Errorf("median send lag %v, want ≥ 100ms: requests queue in the generator", lag)
	}
}

// TestBelowCapacityLatencyIsServiceTime drives a server that answers every
// request concurrently after 5ms at 100/s, far below its capacity: no
// request can take less than 5ms, and none queues.
func TestBelowCapacityLatencyIsServiceTime(t *testing.T) {
	const delay = 5 * time.Millisecond
	srv := delayServer(t, delay)
	res := run(t, context.Background(), Config{Rate: 100, Count: 100}, httpOp(t, srv.URL, nil))
	t.Logf("\n%s", res.Summary())
	if res.ByOutcome["202"] != 100 {
		t.Fatalf("ByOutcome %v, want 100 × 202", res.ByOutcome)
	}
	if p50 := res.Latency.Quantile(0.5); p50 < delay || p50 > 100*delay {
		t.Errorf("p50 %v, want at least the %v service time and within two orders of magnitude of it", p50, delay)
	}
	if res.Latency.Min() < delay {
		t.Errorf("min latency %v below the service time %v", res.Latency.Min(), delay)
	}
}
