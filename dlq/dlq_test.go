package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

type env struct {
	t        *testing.T
	db       *pgxpool.Pool
	kafka    *testenv.Kafka
	producer *kgo.Client
	delays   []time.Duration
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, delays: []time.Duration{time.Minute, time.Hour}}
	e.db, _ = testenv.Postgres(t)
	e.kafka = testenv.NewKafka(t, embedded.Config{})
	var err error
	if e.producer, err = kafka.NewProducer(e.kafka.Config(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.producer.Close)
	if err := kafka.EnsureTopics(testenv.Ctx(t, 30*time.Second), e.producer, e.kafka.Config(t), kafka.Topics(e.kafka.Topic, 2)...); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Ctx(t, 30*time.Second)
	if _, err := pgstore.CreateTenant(ctx, e.db, "uni-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.PutAssignment(ctx, e.db, &schema.Assignment{TenantID: "uni-a", AssignmentID: "hw1", CourseID: "cs101",
		DueAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) event(key string) *schema.Submission {
	sum := sha256.Sum256([]byte(key))
	ev := &schema.Submission{SchemaVersion: 1, EventID: "e-" + key, TenantID: "uni-a", CourseID: "cs101", AssignmentID: "hw1",
		StudentID: "s-" + key, IdempotencyKey: key, Size: 10, SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain",
		AcceptedAt: time.Now().UTC().Truncate(time.Microsecond)}
	ev.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw1", ev.StudentID) + key
	ev.ReceiptID, ev.RequestDigest = schema.ReceiptID("uni-a", key), ev.Digest()
	return ev
}

// failed is a record as the consumers write it to a tier or the dead-letter
// topic, by the header contract in schema.
func (e *env) failed(topic string, ev *schema.Submission, class schema.ErrorClass, attempt int, at time.Time) *kgo.Record {
	v, _ := ev.Encode()
	return &kgo.Record{Topic: topic, Key: []byte(ev.Key()), Value: v, Timestamp: at, Headers: []kgo.RecordHeader{
		{Key: schema.HeaderSchemaVersion, Value: []byte("1")},
		{Key: "x-original", Value: []byte("kept")},
		{Key: schema.HeaderErrorClass, Value: []byte(class)},
		{Key: schema.HeaderErrorMessage, Value: []byte("it failed")},
		{Key: schema.HeaderAttempt, Value: []byte(strconv.Itoa(attempt))},
		{Key: schema.HeaderFirstFailureAt, Value: []byte(at.Add(-time.Minute).Format(time.RFC3339Nano))},
		{Key: schema.HeaderLastFailureAt, Value: []byte(at.Format(time.RFC3339Nano))},
		{Key: schema.HeaderOriginTopic, Value: []byte(e.kafka.Topic)},
		{Key: schema.HeaderOriginPart, Value: []byte("0")},
		{Key: schema.HeaderOriginOffset, Value: []byte("0")},
		{Key: schema.HeaderOriginGroup, Value: []byte("turnin-consumer")},
	}}
}

func (e *env) produce(recs ...*kgo.Record) {
	e.t.Helper()
	if err := e.producer.ProduceSync(testenv.Ctx(e.t, 30*time.Second), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) runIndexer(a *Alerter) {
	ix := NewIndexer(IndexerConfig{Kafka: e.kafka.Config(e.t), Group: "ix-" + testenv.ID(), RetryDelays: e.delays}, e.db, a, testenv.Logger(e.t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Error(err)
		}
	})
}

func (e *env) waitCount(query string, want int64) {
	e.t.Helper()
	testenv.WaitCount(e.t, e.db, query, want)
}

// TestIndexAndAlert: retry and dead-letter records are indexed once each,
// with their state, and new dead letters raise one summary alert.
func TestIndexAndAlert(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var alerts []Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &a)
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	defer srv.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	retrying, dead := e.event("retrying"), e.event("dead")
	recs := []*kgo.Record{
		e.failed(schema.RetryTopic(e.kafka.Topic, 1), retrying, schema.ClassWebhookFailed, 1, now),
		e.failed(schema.DeadLetterTopic(e.kafka.Topic), dead, schema.ClassChecksumMismatch, 1, now),
		{Topic: schema.DeadLetterTopic(e.kafka.Topic), Value: []byte("not json"), Headers: []kgo.RecordHeader{
			{Key: schema.HeaderErrorClass, Value: []byte(schema.ClassInvalidPayload)},
			{Key: schema.HeaderAttempt, Value: []byte("1")}}},
	}
	// A small flood of dead letters, to be announced in summaries.
	const flood = 60
	for i := 0; i < flood; i++ {
		recs = append(recs, e.failed(schema.DeadLetterTopic(e.kafka.Topic), e.event(fmt.Sprint("f", i)), schema.ClassObjectMissing, 1, now))
	}
	e.produce(recs...)
	reg := prometheus.NewRegistry()
	e.runIndexer(NewAlerter(srv.URL, reg, testenv.Logger(t)))
	e.waitCount(`SELECT count(*) FROM failures`, int64(len(recs)))

	ctx := testenv.Ctx(t, 10*time.Second)
	f, err := pgstore.LatestFailure(ctx, e.db, "uni-a", retrying.ReceiptID)
	if err != nil || f.State != pgstore.FailureRetrying || f.NextAttemptAt == nil || !f.NextAttemptAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("retrying: %+v %v", f, err)
	}
	f, err = pgstore.LatestFailure(ctx, e.db, "uni-a", dead.ReceiptID)
	if err != nil || f.State != pgstore.FailureDeadLettered || f.ErrorClass != string(schema.ClassChecksumMismatch) ||
		f.OriginTopic != e.kafka.Topic || string(f.Headers[1].Value) != "kept" {
		t.Fatalf("dead: %+v %v", f, err)
	}
	// Every dead letter (not the retrying record) is announced exactly once,
	// in summaries far fewer than the records.
	want := flood + 2
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		total, byClass := 0, map[string]int{}
		for _, a := range alerts {
			total += a.DeadLetters
			for c, n := range a.ByClass {
				byClass[c] += n
			}
		}
		n := len(alerts)
		mu.Unlock()
		if total == want {
			if n > want/4 || byClass[string(schema.ClassObjectMissing)] != flood || byClass[string(schema.ClassChecksumMismatch)] != 1 ||
				byClass[string(schema.ClassInvalidPayload)] != 1 {
				t.Fatalf("%d alerts by class %v: want a few summaries of %d dead letters", n, byClass, want)
			}
			break
		}
		if total > want || time.Now().After(deadline) {
			t.Fatalf("alerts announced %d dead letters, want %d", total, want)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestRedrive: a dry run lists and moves nothing; a real one writes each
// dead letter back (acknowledged), marks it, records who did it, and a
// second run finds nothing left to move.
func TestRedrive(t *testing.T) {
	e := newEnv(t)
	a, b := e.event("a"), e.event("b")
	now := time.Now().UTC()
	e.produce(e.failed(schema.DeadLetterTopic(e.kafka.Topic), a, schema.ClassObjectMissing, 1, now),
		e.failed(schema.DeadLetterTopic(e.kafka.Topic), b, schema.ClassChecksumMismatch, 1, now))
	e.runIndexer(nil)
	e.waitCount(`SELECT count(*) FROM failures`, 2)
	ctx := testenv.Ctx(t, 30*time.Second)
	cfg := RedriveConfig{Filter: pgstore.FailureFilter{Class: string(schema.ClassObjectMissing)}, Topic: e.kafka.Topic, DryRun: true}
	res, err := Redrive(ctx, cfg, e.producer, e.db)
	if err != nil || len(res.Selected) != 1 || res.Moved != 0 || res.Selected[0].ReceiptID != a.ReceiptID {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if n := endOffset(t, e, e.kafka.Topic); n != 0 {
		t.Fatalf("a dry run wrote %d records", n)
	}
	cfg.DryRun, cfg.By, cfg.Rate = false, "staff@uni-a", 50
	if res, err = Redrive(ctx, cfg, e.producer, e.db); err != nil || res.Moved != 1 || res.ID == 0 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	rec := testenv.ReadTopic(t, e.kafka.Brokers, e.kafka.Topic, 1)[0]
	ev, err := schema.DecodeSubmission(rec.Value)
	if err != nil || ev.ReceiptID != a.ReceiptID {
		t.Fatalf("redriven record %v %v", ev, err)
	}
	hs := map[string]string{}
	for _, h := range rec.Headers {
		hs[h.Key] = string(h.Value)
	}
	if hs["x-original"] != "kept" || hs[schema.HeaderAttempt] != "" || hs[schema.HeaderErrorClass] != "" || hs[HeaderRedriveID] != strconv.FormatInt(res.ID, 10) {
		t.Fatalf("redriven headers %v: want the original's, no failure headers, and the redrive id", hs)
	}
	var by string
	var moved int
	if err := e.db.QueryRow(ctx, `SELECT requested_by, moved FROM redrives WHERE redrive_id = $1 AND finished_at IS NOT NULL`, res.ID).Scan(&by, &moved); err != nil || by != "staff@uni-a" || moved != 1 {
		t.Fatalf("audit row: %q %d %v", by, moved, err)
	}
	if _, err := pgstore.LatestFailure(ctx, e.db, "uni-a", a.ReceiptID); err == nil {
		t.Fatal("a redriven receipt still shows as dead-lettered")
	}
	if res, err = Redrive(ctx, cfg, e.producer, e.db); err != nil || len(res.Selected) != 0 {
		t.Fatalf("second redrive selected %d", len(res.Selected))
	}
}

// TestAudit (invariant 5): every receipt in the window is processed,
// retrying, dead-lettered or queued — and one that is none is named.
func TestAudit(t *testing.T) {
	e := newEnv(t)
	evs := map[string]*schema.Submission{}
	var recs []*kgo.Record
	for _, k := range []string{"processed", "retrying", "dead", "gone", "queued"} {
		evs[k] = e.event(k)
		v, _ := evs[k].Encode()
		recs = append(recs, &kgo.Record{Topic: e.kafka.Topic, Partition: 0, Value: v, Key: []byte(evs[k].Key())})
	}
	poison := &kgo.Record{Topic: e.kafka.Topic, Partition: 0, Value: []byte("{")}
	recs = append(recs[:4], poison, recs[4])
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testenv.Ctx(t, 60*time.Second)
	start := time.Now().Add(-time.Second)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The consumers have processed offsets 0..4 ("queued", at 5, is not
	// reached): "processed" is recorded, "retrying" and "dead" and the
	// poison record are in the index, and "gone" is nowhere.
	group := "turnin-consumer-" + testenv.ID()
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: e.kafka.Topic, Partition: 0, At: 5, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, group, os); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.RecordBatch(ctx, e.db, []pgstore.Incoming{{Event: evs["processed"], Topic: e.kafka.Topic}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e.produce(e.failed(schema.RetryTopic(e.kafka.Topic, 1), evs["retrying"], schema.ClassWebhookFailed, 1, now),
		e.failed(schema.DeadLetterTopic(e.kafka.Topic), evs["dead"], schema.ClassObjectMissing, 1, now),
		&kgo.Record{Topic: schema.DeadLetterTopic(e.kafka.Topic), Value: poison.Value, Headers: []kgo.RecordHeader{
			{Key: schema.HeaderErrorClass, Value: []byte(schema.ClassInvalidPayload)},
			{Key: schema.HeaderOriginTopic, Value: []byte(e.kafka.Topic)},
			{Key: schema.HeaderOriginPart, Value: []byte("0")},
			{Key: schema.HeaderOriginOffset, Value: []byte("4")}}})
	e.runIndexer(nil)
	e.waitCount(`SELECT count(*) FROM failures`, 3)

	rep, err := Audit(ctx, AuditConfig{Kafka: e.kafka.Config(t), Group: group, Since: start, Until: time.Now().Add(time.Second)}, e.db)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 6 || rep.Processed != 1 || rep.Retrying != 1 || rep.DeadLettered != 2 || rep.Queued != 1 || rep.Undecodable != 1 {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Gone) != 1 || rep.Gone[0].ReceiptID != evs["gone"].ReceiptID {
		t.Fatalf("gone %+v, want exactly the lost receipt", rep.Gone)
	}
}

func endOffset(t *testing.T, e *env, topic string) int64 {
	ends, err := kafka.EndOffsets(testenv.Ctx(t, 30*time.Second), kadm.NewClient(e.producer), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range ends {
		n += o
	}
	return n
}

// TestReplayCopy: a copy replay writes the window's records, byte for
// byte, to the target topic and names where each came from.
func TestReplayCopy(t *testing.T) {
	e := newEnv(t)
	start := time.Now().Add(-time.Second)
	var recs []*kgo.Record
	for _, k := range []string{"r1", "r2", "r3"} {
		v, _ := e.event(k).Encode()
		recs = append(recs, &kgo.Record{Topic: e.kafka.Topic, Key: []byte(k), Value: v})
	}
	e.produce(recs...)
	target := e.kafka.Topic + ".replayed"
	if err := kafka.EnsureTopics(testenv.Ctx(t, 10*time.Second), e.producer, e.kafka.Config(t), target); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Ctx(t, 30*time.Second)
	dry, err := Replay(ctx, ReplayConfig{Kafka: e.kafka.Config(t), Since: start, ToTopic: target, DryRun: true})
	if err != nil || dry.Records != 3 || dry.Copied != 0 || endOffset(t, e, target) != 0 {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	res, err := Replay(ctx, ReplayConfig{Kafka: e.kafka.Config(t), Since: start, ToTopic: target, Rate: 100})
	if err != nil || res.Copied != 3 {
		t.Fatalf("replay %+v %v", res, err)
	}
	got := map[string]bool{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.Brokers...), kgo.ConsumeTopics(target), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for len(got) < 3 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d copies", len(got))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, err := schema.DecodeSubmission(r.Value); err != nil || r.Headers[len(r.Headers)-1].Key != HeaderReplayOf {
				t.Errorf("copy %v %v", r.Headers, err)
			}
			got[string(r.Key)] = true
		})
	}
	if _, err := Replay(ctx, ReplayConfig{Kafka: e.kafka.Config(t), Since: start}); err == nil {
		t.Fatal("a replay with neither a group nor a target was accepted")
	}
}
