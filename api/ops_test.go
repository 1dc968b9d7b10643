package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestRevokedKeyStopsWorking: a revoked key is refused within a refresh
// interval, without a per-request query.
func TestRevokedKeyStopsWorking(t *testing.T) {
	h := newHarness(t, harnessOpts{run: true})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	if err := pgstore.RevokeAPIKey(ctx, h.db, h.keyA); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := h.a.RequestUpload(ctx, uploadReq("s-1", []byte("x")))
		if err != nil {
			if e := apiErr(t, err); e.Code == schema.CodeInvalidAPIKey {
				return
			}
			t.Fatalf("unexpected %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("revoked key still accepted after 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSnapshotSurvivesDatabaseOutage: once loaded, the API keeps accepting
// with its last snapshot when PostgreSQL goes away.
func TestSnapshotSurvivesDatabaseOutage(t *testing.T) {
	h := newHarness(t, harnessOpts{run: true})
	h.openAssignment()
	req := h.upload(h.a, "s-1", []byte("essay"))
	h.db.Close() // every refresh from now on fails
	if _, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k-1", req); err != nil {
		t.Fatalf("accept with the database gone: %v", err)
	}
}

// TestOverloadAnswers503: past MaxInFlight, a request is answered 503 at
// once instead of queueing.
func TestOverloadAnswers503(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: api.Config{MaxInFlight: 1, ProduceTimeout: 5 * time.Second}})
	if h.kafka.Embedded == nil {
		t.Skip("holding a produce needs the embedded broker")
	}
	h.openAssignment()
	r1 := h.upload(h.a, "s-1", []byte("one"))
	r2 := h.upload(h.a, "s-2", []byte("two"))
	// Hold produce requests: the first submission stays in flight.
	fh := h.kafka.Embedded.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = h.a.Submit(context.Background(), "k-1", r1)
	}()
	h.waitMetric("turnin_accept_in_flight 1")
	_, err := h.a.Submit(testenv.Ctx(t, 10*time.Second), "k-2", r2)
	if e := apiErr(t, err); e.Status != http.StatusServiceUnavailable || e.Code != schema.CodeOverloaded || e.RetryAfter < time.Second {
		t.Fatalf("got %+v, want 503 overloaded with Retry-After", e)
	}
	fh.Remove()
	wg.Wait()
}

// waitMetric polls /metrics until a line starting with want appears.
func (h *harness) waitMetric(want string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(h.url + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, want) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("metric %q never appeared", want)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// TestMetrics: the accept latency histogram, accepted counter and
// producer gauges are exported.
func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	if _, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k", h.upload(h.a, "s-1", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	h.waitMetric(`turnin_http_request_duration_seconds_count{method="POST",route="/v1/submissions",status="202"} 1`)
	h.waitMetric("turnin_submissions_accepted_total 1")
	h.waitMetric("turnin_producer_buffered_records 0")
}

// TestEmbeddedRestartKeepsEvents: with a DataDir and SyncWrites, every
// acknowledged event survives a restart of the embedded broker.
func TestEmbeddedRestartKeepsEvents(t *testing.T) {
	if kafkaSeedsEnv() != "" {
		t.Skip("restarts the embedded broker")
	}
	dir := t.TempDir()
	h := newHarness(t, harnessOpts{kafkaCfg: embedded.Config{DataDir: dir, SyncWrites: true}})
	h.openAssignment()
	ctx := testenv.Ctx(t, 60*time.Second)
	const n = 20
	receipts := map[string]bool{}
	for i := 0; i < n; i++ {
		rc, err := h.a.Submit(ctx, fmt.Sprintf("k-%d", i), h.upload(h.a, fmt.Sprintf("s-%d", i), []byte(fmt.Sprint("essay ", i))))
		if err != nil {
			t.Fatal(err)
		}
		receipts[rc.ReceiptID] = true
	}
	h.producer.Close()
	h.kafka.Embedded.Close()

	b, err := embedded.Start(embedded.Config{DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	h.kafka.Embedded, h.kafka.Brokers = b, b.Addrs()
	if h.producer, err = kafka.NewProducer(h.kafka.Config(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.producer.Close)
	got := map[string]bool{}
	for _, r := range h.records() {
		ev, err := schema.DecodeSubmission(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.ReceiptID] = true
	}
	for id := range receipts {
		if !got[id] {
			t.Errorf("acknowledged receipt %s missing after restart", id)
		}
	}
	if len(got) != n {
		t.Errorf("%d receipts after restart, want %d", len(got), n)
	}
}
