package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestRecordsSubmissions: events become rows with the event's facts,
// lateness judged on accepted_at (extensions included), attempts numbered
// per student, and counters equal to the rows.
func TestRecordsSubmissions(t *testing.T) {
	e := newEnv(t)
	onTime := e.event("s-1", "k-1", -time.Minute)
	late := e.event("s-1", "k-2", 90*time.Second)
	ext := e.event("s-ext", "k-3", time.Hour)
	e.produce(onTime, late, ext)
	e.run(e.consumer())
	e.waitCount(`SELECT count(*) FROM submissions`, 3)

	ctx := testenv.Ctx(t, 10*time.Second)
	for _, c := range []struct {
		ev      *schema.Submission
		attempt int
		late    bool
		secs    int64
	}{{onTime, 1, false, 0}, {late, 2, true, 90}, {ext, 1, false, 0}} {
		s, _, err := pgstore.GetSubmission(ctx, e.db, "uni-a", c.ev.ReceiptID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Attempt != c.attempt || s.Late != c.late || s.SecondsLate != c.secs || !s.AcceptedAt.Equal(c.ev.AcceptedAt) ||
			s.ObjectKey != c.ev.ObjectKey || s.SHA256 != c.ev.SHA256 || s.Size != c.ev.Size || s.StudentID != c.ev.StudentID {
			t.Errorf("row %+v for event %+v", s, c.ev)
		}
	}
	counts, err := pgstore.AssignmentCounts(ctx, e.db, "uni-a", "hw1")
	if err != nil {
		t.Fatal(err)
	}
	if counts != (pgstore.Counts{Submissions: 3, Students: 2, Late: 1}) {
		t.Errorf("counts = %+v", counts)
	}
	if n := e.count(`SELECT count(*) FROM latest_submissions WHERE assignment_id = 'hw1'`); n != 2 {
		t.Errorf("latest view has %d rows, want one per student", n)
	}
}

// TestRedeliveryOneRow (invariant 4): the same receipt delivered twice —
// the same record again, or a resend with a new event id — is one row.
func TestRedeliveryOneRow(t *testing.T) {
	e := newEnv(t)
	ev := e.event("s-1", "k-1", 0)
	resend := *ev
	resend.EventID = "another-event"
	resend.AcceptedAt = ev.AcceptedAt.Add(time.Second)
	e.produce(ev, ev, &resend)
	stop, _ := e.run(e.consumer())
	e.waitCount(`SELECT count(*) FROM submissions`, 1)
	// The group has committed past all three: nothing is left to change.
	waitFor(t, func() bool { return e.committed() == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM submissions`); n != 1 {
		t.Fatalf("%d rows", n)
	}
	if n := e.count(`SELECT submissions FROM assignment_counters`); n != 1 {
		t.Fatalf("counter %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM submission_conflicts`); n != 0 {
		t.Fatalf("a resend of the same payload was taken as a conflict")
	}
}

// TestCrashAfterDatabaseCommit (invariants 3, 4): a consumer that dies
// after the database commit but before the offset commit leaves offsets
// where they were; the next one redelivers and writes nothing twice.
func TestCrashAfterDatabaseCommit(t *testing.T) {
	e := newEnv(t)
	evs := events(e, 50, 20)
	e.produce(evs...)
	c := e.consumer(withConsumer(func(c *Consumer) {
		c.beforeOffsetCommit = func([]*kgo.Record) error { return errCrash }
	}))
	stop, done := e.run(c)
	<-done
	if err := stop(); !errors.Is(err, errCrash) {
		t.Fatalf("Run = %v", err)
	}
	if got := e.committed(); got != 0 {
		t.Fatalf("offsets committed (%d) by a consumer that died before committing", got)
	}
	written := e.count(`SELECT count(*) FROM submissions`)
	if written == 0 {
		t.Fatal("the crashed batch wrote nothing: the test did not crash after the database commit")
	}
	e.run(e.consumer())
	e.waitCount(`SELECT count(*) FROM submissions`, 50)
	waitFor(t, func() bool { return e.committed() == 50 })
	if n := e.count(`SELECT submissions FROM assignment_counters`); n != 50 {
		t.Fatalf("counter %d after redelivery, want 50", n)
	}
}

// TestCrashBeforeDatabaseCommit: a consumer that dies before its
// transaction commits loses nothing; the next one processes the records.
func TestCrashBeforeDatabaseCommit(t *testing.T) {
	e := newEnv(t)
	e.produce(events(e, 30, 30)...)
	c := e.consumer(withConsumer(func(c *Consumer) { c.beforeRecord = func() error { return errCrash } }))
	stop, done := e.run(c)
	<-done
	if err := stop(); !errors.Is(err, errCrash) {
		t.Fatalf("Run = %v", err)
	}
	if n := e.count(`SELECT count(*) FROM submissions`); n != 0 || e.committed() != 0 {
		t.Fatalf("rows %d, committed %d after a crash before the commit", n, e.committed())
	}
	e.run(e.consumer())
	e.waitCount(`SELECT count(*) FROM submissions`, 30)
}

// TestRebalanceMidBatch: a second member joins while the first is mid-
// batch, then the first leaves; every submission ends as exactly one row.
func TestRebalanceMidBatch(t *testing.T) {
	e := newEnv(t)
	const n = 400
	e.produce(events(e, n, 97)...)
	midBatch, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a := e.consumer(withConfig(func(c *Config) { c.BatchSize = 50 }), withConsumer(func(c *Consumer) {
		c.beforeOffsetCommit = func([]*kgo.Record) error {
			once.Do(func() { close(midBatch); <-release })
			return nil
		}
	}))
	stopA, _ := e.run(a)
	<-midBatch
	b := e.consumer(withConfig(func(c *Config) { c.BatchSize = 50 }))
	e.run(b)
	if e.kafka.Embedded != nil {
		// Wait until B's join is pending, so the rebalance really happens
		// while A holds its batch.
		_, err := e.kafka.Embedded.Cluster().WaitGroupInfo(testenv.Ctx(t, 30*time.Second), e.group, func(g *kfake.GroupInfo) bool {
			return g.State != "Stable" || len(g.Members) == 2
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	e.waitCount(`SELECT count(*) FROM submissions`, n)
	waitFor(t, func() bool { return e.committed() == n })
	if d := e.count(`SELECT count(*) - count(DISTINCT receipt_id) FROM submissions`); d != 0 {
		t.Fatalf("%d duplicate rows", d)
	}
	if c := e.count(`SELECT submissions FROM assignment_counters`); c != n {
		t.Fatalf("counter %d, want %d", c, n)
	}
}

// TestDatabaseDown: with PostgreSQL refusing connections, no offset
// advances and nothing is lost; processing resumes on its own.
func TestDatabaseDown(t *testing.T) {
	e := newEnv(t)
	admin, err := pgx.Connect(testenv.Ctx(t, 10*time.Second), testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	var dbName string
	if err := e.db.QueryRow(testenv.Ctx(t, 10*time.Second), `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	setAllow := func(allow bool) {
		ctx := testenv.Ctx(t, 10*time.Second)
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH ALLOW_CONNECTIONS %v`, dbName, allow)); err != nil {
			t.Fatal(err)
		}
		if !allow {
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := e.consumer()
	setAllow(false)
	e.produce(events(e, 40, 40)...)
	e.run(c)
	// Several batches fail and back off while the database is down.
	waitFor(t, func() bool { return testutilCount(c.metrics.backoffs) >= 3 })
	if got := e.committed(); got != 0 {
		t.Fatalf("offsets advanced to %d with the database down", got)
	}
	setAllow(true)
	e.waitCount(`SELECT count(*) FROM submissions`, 40)
	waitFor(t, func() bool { return e.committed() == 40 })
}

// TestKeyConflict (invariant 4): one key, two payloads: the first is the
// row, the second is kept as a conflict and dead-lettered, never merged.
func TestKeyConflict(t *testing.T) {
	e := newEnv(t)
	first := e.event("s-1", "same-key", 0)
	second := e.event("s-1", "same-key", time.Second)
	second.SHA256, second.Size = "ab"+first.SHA256[2:], first.Size+1
	second.RequestDigest = second.Digest()
	e.produce(first, second)
	e.run(e.consumer())
	dl := e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 1)
	if header(dl[0], schema.HeaderErrorClass) != string(schema.ClassKeyConflict) {
		t.Fatalf("dead letter class %q", header(dl[0], schema.HeaderErrorClass))
	}
	s, conflicts, err := pgstore.GetSubmission(testenv.Ctx(t, 10*time.Second), e.db, "uni-a", first.ReceiptID)
	if err != nil {
		t.Fatal(err)
	}
	if s.SHA256 != first.SHA256 || len(conflicts) != 1 || conflicts[0].EventID != second.EventID {
		t.Fatalf("row %+v conflicts %+v", s, conflicts)
	}
}

// TestHotAssignmentCounters (invariant 7): a flood on one assignment,
// written by concurrent transactions, leaves counters equal to the rows.
func TestHotAssignmentCounters(t *testing.T) {
	e := newEnv(t)
	const n = 3000
	e.produce(events(e, n, 700)...)
	e.run(e.consumer(withConfig(func(c *Config) { c.BatchSize = 500; c.MaxConcurrentTx = 4 })))
	e.waitCount(`SELECT count(*) FROM submissions`, n)
	var subs, studs, late int64
	if err := e.db.QueryRow(testenv.Ctx(t, 10*time.Second),
		`SELECT submissions, students, late FROM assignment_counters WHERE assignment_id = 'hw1'`).Scan(&subs, &studs, &late); err != nil {
		t.Fatal(err)
	}
	wantStuds := e.count(`SELECT count(DISTINCT student_id) FROM submissions`)
	wantLate := e.count(`SELECT count(*) FROM submissions WHERE late`)
	if subs != n || studs != wantStuds || late != wantLate {
		t.Fatalf("counters %d/%d/%d, rows %d/%d/%d", subs, studs, late, n, wantStuds, wantLate)
	}
	if bad := e.count(`SELECT count(*) FROM (SELECT student_id, count(*) c, max(attempt) m FROM submissions GROUP BY 1) x WHERE c <> m`); bad != 0 {
		t.Fatalf("%d students with gaps or repeats in attempt numbers", bad)
	}
}

// TestPoisonDeadLettered (invariant 8): a record that does not decode is
// dead-lettered byte for byte with its context, and the partition moves on.
func TestPoisonDeadLettered(t *testing.T) {
	e := newEnv(t)
	good := e.event("s-1", "k-1", 0)
	poison := &kgo.Record{Topic: e.kafka.Topic, Key: []byte(good.Key()), Value: []byte(`{"schema_version":1,"oops`),
		Headers: []kgo.RecordHeader{{Key: "x-origin", Value: []byte("fuzzer")}}}
	// Well-formed JSON that no database column would take (a NUL byte):
	// refused at decoding, so it cannot stall every write of its batch.
	nul := e.event("s-2", "k-nul", 0)
	nul.ContentType = "text/plain\x00"
	nul.RequestDigest = nul.Digest()
	e.produceRaw(poison)
	e.produce(nul, good)
	e.run(e.consumer())
	e.waitCount(`SELECT count(*) FROM submissions`, 1)
	dls := e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 2)
	dl := dls[0]
	if string(dls[1].Value) == string(poison.Value) {
		dl = dls[1]
	}
	if string(dl.Value) != string(poison.Value) || string(dl.Key) != string(poison.Key) || header(dl, "x-origin") != "fuzzer" {
		t.Fatalf("dead letter changed the record: %q %q", dl.Key, dl.Value)
	}
	for k, want := range map[string]string{
		schema.HeaderErrorClass: string(schema.ClassInvalidPayload), schema.HeaderAttempt: "1",
		schema.HeaderOriginTopic: e.kafka.Topic, schema.HeaderOriginGroup: e.group,
	} {
		if got := header(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if header(dl, schema.HeaderErrorMessage) == "" || header(dl, schema.HeaderFirstFailureAt) == "" || header(dl, schema.HeaderOriginOffset) == "" {
		t.Errorf("dead letter lacks context headers: %v", dl.Headers)
	}
	waitFor(t, func() bool { return e.committed() == 3 })
}

// TestDatabaseRejectsRow (invariant 8): a record that decodes but that
// PostgreSQL refuses as data — here a check constraint a DBA added — is
// found by splitting its batch, dead-lettered as database_rejected with
// the server's message, and the rest of the batch is written. An error
// that is not about the data (a trigger failing after a bad migration)
// parks nothing: the batch backs off, uncommitted, until it is fixed.
func TestDatabaseRejectsRow(t *testing.T) {
	e := newEnv(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := e.db.Exec(ctx, `ALTER TABLE submissions ADD CONSTRAINT no_poison CHECK (student_id <> 's-poison')`); err != nil {
		t.Fatal(err)
	}
	evs := events(e, 40, 40)
	poison := e.event("s-poison", "k-poison", 0)
	evs = append(evs[:20], append([]*schema.Submission{poison}, evs[20:]...)...)
	e.produce(evs...)
	c := e.consumer()
	e.run(c)
	e.waitCount(`SELECT count(*) FROM submissions`, 40)
	dl := e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 1)[0]
	ev, err := schema.DecodeSubmission(dl.Value)
	if err != nil || ev.ReceiptID != poison.ReceiptID {
		t.Fatalf("dead letter %v %v, want the poison record", ev, err)
	}
	if got := header(dl, schema.HeaderErrorClass); got != string(schema.ClassDatabaseRejected) {
		t.Errorf("class %q", got)
	}
	if msg := header(dl, schema.HeaderErrorMessage); !strings.Contains(msg, "no_poison") || !strings.Contains(msg, "23514") {
		t.Errorf("message %q does not name the constraint and SQLSTATE", msg)
	}
	waitFor(t, func() bool { return e.committed() == 41 })

	if _, err := e.db.Exec(ctx, `
		CREATE FUNCTION half_migrated() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'column grade is missing'; END $$;
		CREATE TRIGGER half_migrated BEFORE INSERT ON submissions FOR EACH ROW EXECUTE FUNCTION half_migrated();`); err != nil {
		t.Fatal(err)
	}
	backoffs := testutilCount(c.metrics.backoffs)
	e.produce(e.event("s-after", "k-after", 0))
	waitFor(t, func() bool { return testutilCount(c.metrics.backoffs) >= backoffs+3 })
	if got := e.committed(); got != 41 {
		t.Fatalf("committed %d while every write failed", got)
	}
	if _, err := e.db.Exec(ctx, `DROP TRIGGER half_migrated ON submissions`); err != nil {
		t.Fatal(err)
	}
	e.waitCount(`SELECT count(*) FROM submissions`, 41)
	waitFor(t, func() bool { return e.committed() == 42 })
	ends, err := kafka.EndOffsets(ctx, kadm.NewClient(e.producer), schema.DeadLetterTopic(e.kafka.Topic))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range ends {
		n += o
	}
	if n != 1 {
		t.Fatalf("%d dead letters, want only the poison record", n)
	}
}

// TestDeadLetterWriteFailsNothingCommitted (invariant 3): when the dead-
// letter topic refuses the write, the poison record's offset is not
// committed; once it accepts, the record is parked and the commit follows.
func TestDeadLetterWriteFailsNothingCommitted(t *testing.T) {
	e := newEnv(t)
	if e.kafka.Embedded == nil {
		t.Skip("fault injection needs the embedded broker")
	}
	fh := e.kafka.Embedded.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce},
		Topic: schema.DeadLetterTopic(e.kafka.Topic), Err: kerr.TopicAuthorizationFailed, Count: -1})
	e.produceRaw(&kgo.Record{Topic: e.kafka.Topic, Value: []byte("not json")})
	c := e.consumer()
	e.run(c)
	waitFor(t, func() bool { return testutilCount(c.metrics.backoffs) >= 2 })
	if got := e.committed(); got != 0 {
		t.Fatalf("committed %d though the dead-letter write failed", got)
	}
	fh.Remove()
	e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 1)
	waitFor(t, func() bool { return e.committed() == 1 })
}

// TestVerifyChecksum: the verify step streams the object; a mismatch or a
// missing object is permanent and dead-lettered, a match is recorded.
func TestVerifyChecksum(t *testing.T) {
	e := newEnv(t)
	good := e.event("s-1", "good", 0)
	e.upload(good, body(good))
	tampered := e.event("s-2", "tampered", 0)
	e.upload(tampered, []byte("not what was declared"))
	missing := e.event("s-3", "missing", 0)
	e.produce(good, tampered, missing)
	e.run(e.consumer(withConfig(func(c *Config) {
		c.Steps = []Step{&VerifyStep{Store: e.store, Fraction: 1, Concurrency: 4}}
	})))
	e.waitCount(`SELECT count(*) FROM submissions`, 1)
	classes := map[string]string{}
	for _, r := range e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 2) {
		ev, _ := schema.DecodeSubmission(r.Value)
		classes[ev.IdempotencyKey] = header(r, schema.HeaderErrorClass)
	}
	if classes["tampered"] != string(schema.ClassChecksumMismatch) || classes["missing"] != string(schema.ClassObjectMissing) {
		t.Fatalf("dead-letter classes %v", classes)
	}
	if n := e.count(`SELECT count(*) FROM submissions WHERE receipt_id = $1`, good.ReceiptID); n != 1 {
		t.Fatal("the verified submission was not recorded")
	}
}

// TestWebhookClassification: 2xx passes, 5xx is retryable, 4xx permanent.
func TestWebhookClassification(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Idempotency-Key") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.Header.Get("Idempotency-Key") {
		case schema.ReceiptID("uni-a", "down"):
			w.WriteHeader(http.StatusBadGateway)
		case schema.ReceiptID("uni-a", "refused"):
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
	}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	e.produce(e.event("s-1", "ok", 0), e.event("s-2", "down", 0), e.event("s-3", "refused", 0))
	e.run(e.consumer(withConfig(func(c *Config) {
		c.Steps = []Step{&WebhookStep{URL: srv.URL, Timeout: 5 * time.Second, Concurrency: 2}}
	})))
	e.waitCount(`SELECT count(*) FROM submissions`, 1)
	classes := map[string]string{}
	for _, r := range e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 2) {
		ev, _ := schema.DecodeSubmission(r.Value)
		classes[ev.IdempotencyKey] = header(r, schema.HeaderErrorClass)
	}
	if classes["down"] != string(schema.ClassWebhookFailed) || classes["refused"] != string(schema.ClassWebhookRejected) {
		t.Fatalf("classes %v", classes)
	}
}

// TestUnknownAssignmentDeadLettered: an event for an assignment the
// database does not know is permanent, dead-lettered.
func TestUnknownAssignmentDeadLettered(t *testing.T) {
	e := newEnv(t)
	ev := e.event("s-1", "k", 0)
	ev.AssignmentID = "hw-gone"
	ev.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw-gone", "s-1") + "x"
	ev.RequestDigest = ev.Digest()
	e.produce(ev)
	e.run(e.consumer())
	dl := e.readTopic(schema.DeadLetterTopic(e.kafka.Topic), 1)[0]
	if header(dl, schema.HeaderErrorClass) != string(schema.ClassUnknownAssignment) {
		t.Fatalf("class %q", header(dl, schema.HeaderErrorClass))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		<-time.After(20 * time.Millisecond)
	}
}
