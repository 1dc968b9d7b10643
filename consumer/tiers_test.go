package consumer

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// tiers starts the main consumer and one per retry tier.
func (e *env) tiers(delays []time.Duration, steps ...Step) {
	e.t.Helper()
	if err := kafka.EnsureTopics(testenv.Ctx(e.t, 30*time.Second), e.producer, e.kafka.Config(e.t),
		kafka.Topics(e.kafka.Topic, len(delays))...); err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{Kafka: e.kafka.Config(e.t), Group: e.group, BatchSize: 100, RetryDelays: delays, Steps: steps,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	cs, err := Tiers(cfg, Deps{DB: e.db, Logger: testenv.Logger(e.t), Registry: prometheus.NewRegistry()}, e.producer)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cs {
		e.run(c)
	}
}

// TestRetryTiers: a retryable failure moves through the tiers with its
// attempt count and first-failure time, is processed when it passes, and
// is dead-lettered once every tier has failed; a permanent failure skips
// the tiers.
func TestRetryTiers(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Header.Get("Idempotency-Key")
		calls[key]++
		switch {
		case key == schema.ReceiptID("uni-a", "flaky") && calls[key] <= 2: // fails twice, then passes
			w.WriteHeader(http.StatusServiceUnavailable)
		case key == schema.ReceiptID("uni-a", "down"):
			w.WriteHeader(http.StatusBadGateway)
		case key == schema.ReceiptID("uni-a", "refused"):
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	flaky, down, refused := e.event("s-1", "flaky", 0), e.event("s-2", "down", 0), e.event("s-3", "refused", 0)
	e.produce(flaky, down, refused)
	e.tiers([]time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
		&WebhookStep{URL: srv.URL, Timeout: 5 * time.Second, Concurrency: 2})

	e.waitCount(`SELECT count(*) FROM submissions`, 1)
	if n := e.count(`SELECT count(*) FROM submissions WHERE receipt_id = $1`, flaky.ReceiptID); n != 1 {
		t.Fatal("the flaky submission was not processed after its retries")
	}
	dl := e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 2)
	byKey := map[string]*kgo.Record{}
	for _, r := range dl {
		ev, _ := schema.DecodeSubmission(r.Value)
		byKey[ev.IdempotencyKey] = r
	}
	d, ok := byKey["down"]
	if !ok || header(d, schema.HeaderAttempt) != "3" || header(d, schema.HeaderErrorClass) != string(schema.ClassWebhookFailed) ||
		header(d, schema.HeaderOriginTopic) != e.kafka.Topic || header(d, schema.HeaderOriginGroup) != e.group {
		t.Fatalf("dead letter of the always-failing submission: %v", d)
	}
	first, _ := time.Parse(time.RFC3339Nano, header(d, schema.HeaderFirstFailureAt))
	last, _ := time.Parse(time.RFC3339Nano, header(d, schema.HeaderLastFailureAt))
	if !last.After(first) || last.Sub(first) < 150*time.Millisecond {
		t.Fatalf("first failure %v, last %v: the tiers' delays were not waited", first, last)
	}
	if r, ok := byKey["refused"]; !ok || header(r, schema.HeaderAttempt) != "1" {
		t.Fatalf("a permanent failure went through the tiers: %v", r)
	}
	r1 := e.readTopic(schema.RetryTopic(e.kafka.Topic, 1), 2)
	r2 := e.readTopic(schema.RetryTopic(e.kafka.Topic, 2), 2)
	for _, r := range append(r1, r2...) {
		want := "1"
		if r.Topic == schema.RetryTopic(e.kafka.Topic, 2) {
			want = "2"
		}
		if header(r, schema.HeaderAttempt) != want {
			t.Errorf("%s holds attempt %s", r.Topic, header(r, schema.HeaderAttempt))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[flaky.ReceiptID] != 3 || calls[down.ReceiptID] != 3 || calls[refused.ReceiptID] != 1 {
		t.Fatalf("webhook calls %v", calls)
	}
}

// TestDelayGate: a tier processes a record no earlier than its delay after
// the failure, and a partition that waits does not hold the others back.
func TestDelayGate(t *testing.T) {
	e := newEnv(t)
	// Long enough that the group join and first fetch fit well inside it on a
	// slow machine: the due record must be processed before the fresh one is
	// due. A real cluster's group join takes longer under load than kfake's.
	delay := 5 * time.Second
	if e.kafka.Embedded == nil {
		delay = 15 * time.Second
	}
	if err := kafka.EnsureTopics(testenv.Ctx(t, 30*time.Second), e.producer, e.kafka.Config(t),
		kafka.Topics(e.kafka.Topic, 1)...); err != nil {
		t.Fatal(err)
	}
	fresh, old := e.event("s-1", "fresh", 0), e.event("s-2", "old", 0)
	// behind is due but sits after fresh in fresh's partition: it keeps its
	// place in the log and waits with it.
	behind := e.event("s-1", "behind", time.Second)
	failed := func(ev *schema.Submission, at time.Time, partition int32) *kgo.Record {
		v, _ := ev.Encode()
		r := FailureRecord(&kgo.Record{Topic: e.kafka.Topic, Key: []byte(ev.Key()), Value: v}, schema.RetryTopic(e.kafka.Topic, 1),
			e.group, FailureOf(Retryable(schema.ClassWebhookFailed, errTest)), at)
		r.Partition = partition
		return r
	}
	now := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(testenv.Ctx(t, 10*time.Second), failed(fresh, now, 0), failed(behind, now.Add(-time.Hour), 0),
		failed(old, now.Add(-time.Hour), 1)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := e.consumer(withConfig(func(c *Config) { c.RetryDelays, c.Tier = []time.Duration{delay}, 1 }))
	e.run(c)
	e.waitCount(`SELECT count(*) FROM submissions`, 3)
	var freshAt, oldAt time.Time
	ctx := testenv.Ctx(t, 10*time.Second)
	if err := e.db.QueryRow(ctx, `SELECT processed_at FROM submissions WHERE receipt_id = $1`, fresh.ReceiptID).Scan(&freshAt); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT processed_at FROM submissions WHERE receipt_id = $1`, old.ReceiptID).Scan(&oldAt); err != nil {
		t.Fatal(err)
	}
	var freshAttempt, behindAttempt int
	if err := e.db.QueryRow(ctx, `SELECT attempt FROM submissions WHERE receipt_id = $1`, fresh.ReceiptID).Scan(&freshAttempt); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT attempt FROM submissions WHERE receipt_id = $1`, behind.ReceiptID).Scan(&behindAttempt); err != nil {
		t.Fatal(err)
	}
	if freshAttempt != 1 || behindAttempt != 2 {
		t.Fatalf("attempts fresh=%d behind=%d: a record overtook the one before it in its partition", freshAttempt, behindAttempt)
	}
	if freshAt.Before(now.Add(delay)) {
		t.Fatalf("processed %v after the failure, before its %v delay", freshAt.Sub(now), delay)
	}
	if !oldAt.Before(now.Add(delay)) {
		t.Fatalf("the due record waited for the other partition (processed %v after)", oldAt.Sub(now))
	}
}

var errTest = errorString("injected")

type errorString string

func (e errorString) Error() string { return string(e) }
