package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// env is a consumer's world: PostgreSQL with a tenant and an assignment, a
// broker with the topics, the S3 gateway, and a producer.
type env struct {
	t        testing.TB
	db       *pgxpool.Pool
	dbURL    string
	kafka    *testenv.Kafka
	producer *kgo.Client
	store    *objstore.Store
	due      time.Time
	group    string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, group: "g-" + testenv.ID()}
	e.db, e.dbURL = testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := pgstore.CreateTenant(ctx, e.db, "uni-a"); err != nil {
		t.Fatal(err)
	}
	e.due = time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	if _, err := pgstore.PutAssignment(ctx, e.db, &schema.Assignment{TenantID: "uni-a", AssignmentID: "hw1", CourseID: "cs101",
		DueAt: e.due, Extensions: map[string]time.Time{"s-ext": e.due.Add(48 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	e.kafka = testenv.NewKafka(t, embedded.Config{})
	var err error
	if e.producer, err = kafka.NewProducer(e.kafka.Config(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.producer.Close)
	e.store, _ = testenv.ObjectStore(t)
	return e
}

// event builds a valid event for student with key, accepted at offset
// from the due time; the object is not uploaded (see upload).
func (e *env) event(student, key string, acceptedAfterDue time.Duration) *schema.Submission {
	body := []byte("work of " + student + " " + key)
	sum := sha256.Sum256(body)
	ev := &schema.Submission{
		SchemaVersion: schema.SchemaVersion, EventID: testenv.ID(), TenantID: "uni-a", CourseID: "cs101",
		AssignmentID: "hw1", StudentID: student, IdempotencyKey: key,
		ObjectKey: schema.StudentPrefix("uni-a", "cs101", "hw1", student) + key + ".txt",
		Size:      int64(len(body)), SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain",
		AcceptedAt: e.due.Add(acceptedAfterDue),
	}
	ev.ReceiptID = schema.ReceiptID(ev.TenantID, key)
	ev.RequestDigest = ev.Digest()
	return ev
}

// body is the content event() declared for ev.
func body(ev *schema.Submission) []byte {
	return []byte("work of " + ev.StudentID + " " + ev.IdempotencyKey)
}

// upload stores content under ev's object key through a presigned PUT.
func (e *env) upload(ev *schema.Submission, content []byte) {
	e.t.Helper()
	sum := sha256.Sum256(content)
	p, err := e.store.PresignPut(testenv.Ctx(e.t, 10*time.Second), objstore.Upload{Key: ev.ObjectKey, Size: int64(len(content)),
		SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain"})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := putURL(p, content); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) produce(evs ...*schema.Submission) {
	e.t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, ev := range evs {
		v, err := ev.Encode()
		if err != nil {
			e.t.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: e.kafka.Topic, Key: []byte(ev.Key()), Value: v,
			Headers: []kgo.RecordHeader{{Key: schema.HeaderSchemaVersion, Value: []byte("1")}}}
	}
	e.produceRaw(recs...)
}

func (e *env) produceRaw(recs ...*kgo.Record) {
	e.t.Helper()
	if err := e.producer.ProduceSync(testenv.Ctx(e.t, 30*time.Second), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

type consumerOpt func(*Config, *Consumer)

// consumer builds a consumer that dead-letters failures.
func (e *env) consumer(opts ...consumerOpt) *Consumer {
	e.t.Helper()
	// No retry tiers unless a test asks for them: failures go straight to
	// the dead-letter topic.
	cfg := Config{Kafka: e.kafka.Config(e.t), Group: e.group, BatchSize: 100, BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, RetryDelays: []time.Duration{}}
	for _, o := range opts {
		o(&cfg, nil)
	}
	c, err := New(cfg, Deps{DB: e.db, Logger: testenv.Logger(e.t), Registry: prometheus.NewRegistry(),
		Router: &TieredRouter{Producer: e.producer, Topic: e.kafka.Topic, Tiers: len(cfg.RetryDelays), Group: cfg.GroupID()}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range opts {
		o(nil, c)
	}
	return c
}

func withConfig(f func(*Config)) consumerOpt {
	return func(c *Config, _ *Consumer) {
		if c != nil {
			f(c)
		}
	}
}

func withConsumer(f func(*Consumer)) consumerOpt {
	return func(_ *Config, c *Consumer) {
		if c != nil {
			f(c)
		}
	}
}

// run starts c. stop cancels it and returns Run's error; done closes when
// Run returns on its own.
func (e *env) run(c *Consumer) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	var result error
	go func() { result = c.Run(ctx); close(ch) }()
	stop = func() error {
		cancel()
		<-ch
		return result
	}
	e.t.Cleanup(func() { _ = stop() })
	return stop, ch
}

// count runs a count query against the database until it returns want.
func (e *env) waitCount(query string, want int64) {
	e.t.Helper()
	testenv.WaitCount(e.t, e.db, query, want)
}

func (e *env) count(query string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.QueryRow(testenv.Ctx(e.t, 10*time.Second), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// committed returns the group's committed offsets summed over partitions.
func (e *env) committed() int64 {
	e.t.Helper()
	adm := kadm.NewClient(e.producer)
	os, err := adm.FetchOffsets(testenv.Ctx(e.t, 10*time.Second), e.group)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == e.kafka.Topic && o.At > 0 {
			n += o.At
		}
	})
	return n
}

// readTopic reads n records from topic, failing after a deadline.
func (e *env) readTopic(topic string, n int) []*kgo.Record {
	e.t.Helper()
	return testenv.ReadTopic(e.t, e.kafka.Brokers, topic, n)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func events(e *env, n, students int) []*schema.Submission {
	out := make([]*schema.Submission, n)
	for i := range out {
		out[i] = e.event(fmt.Sprintf("s-%03d", i%students), fmt.Sprintf("k-%05d", i), time.Duration(i-n/2)*time.Second)
	}
	return out
}

var _ = strings.TrimSpace
