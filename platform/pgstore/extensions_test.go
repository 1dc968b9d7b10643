package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestBatchWaitsForGrant: a batch judged while a bulk extension holds the
// assignment's row waits for it, and is judged by the new deadline — so no
// submission is judged by a deadline a committed grant replaced. (The
// other order, grant after batch, is the grant's rejudging, tested in api.)
func TestBatchWaitsForGrant(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := pgstore.CreateTenant(ctx, pool, "t1"); err != nil {
		t.Fatal(err)
	}
	due := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if _, err := pgstore.PutAssignment(ctx, pool, &schema.Assignment{TenantID: "t1", AssignmentID: "a", CourseID: "c", DueAt: due}); err != nil {
		t.Fatal(err)
	}
	ev := &schema.Submission{SchemaVersion: 1, EventID: "e1", TenantID: "t1", CourseID: "c", AssignmentID: "a",
		StudentID: "s1", IdempotencyKey: "k1", Size: 1, ContentType: "text/plain",
		SHA256: "00000000000000000000000000000000000000000000000000000000000000aa", AcceptedAt: due.Add(time.Minute)}
	ev.ObjectKey = schema.StudentPrefix("t1", "c", "a", "s1") + "f"
	ev.ReceiptID, ev.RequestDigest = schema.ReceiptID("t1", ev.IdempotencyKey), ev.Digest()

	// A grant in progress: the assignment's row locked as GrantExtensions locks it.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM assignments WHERE tenant_id = 't1' AND assignment_id = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pgstore.RecordBatch(ctx, pool, []pgstore.Incoming{{Event: ev, Topic: "x"}})
		done <- err
	}()
	// The batch is blocked on the row lock, not racing past it.
	testenv.WaitCount(t, pool, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`, 1)
	if _, err := tx.Exec(ctx, `INSERT INTO assignment_extensions (tenant_id, assignment_id, student_id, due_at)
		VALUES ('t1', 'a', 's1', $1)`, due.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec, _, err := pgstore.GetSubmission(ctx, pool, "t1", ev.ReceiptID)
	if err != nil || rec.Late {
		t.Fatalf("judged against the replaced deadline: %+v %v", rec, err)
	}
}

// TestPutAssignmentRejudges: replacing an assignment judges its processed
// submissions again on accepted_at against the deadlines as sent — due
// time moved, extension added, both taken back — and the late counter
// follows the rows.
func TestPutAssignmentRejudges(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := pgstore.CreateTenant(ctx, pool, "t1"); err != nil {
		t.Fatal(err)
	}
	due := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	put := func(due time.Time, ext map[string]time.Time) pgstore.Rejudgement {
		t.Helper()
		r, err := pgstore.PutAssignment(ctx, pool, &schema.Assignment{TenantID: "t1", AssignmentID: "a", CourseID: "c", DueAt: due, Extensions: ext})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	put(due, nil)
	subs := []struct {
		student string
		after   time.Duration
	}{{"s1", -10 * time.Second}, {"s1", 30 * time.Second}, {"s2", 5 * time.Second}, {"s3", 100 * time.Second}}
	var in []pgstore.Incoming
	for i, s := range subs {
		ev := &schema.Submission{SchemaVersion: 1, EventID: fmt.Sprint(i), TenantID: "t1", CourseID: "c", AssignmentID: "a",
			StudentID: s.student, IdempotencyKey: fmt.Sprint("k", i), Size: 1, ContentType: "text/plain",
			SHA256: fmt.Sprintf("%064x", i), AcceptedAt: due.Add(s.after)}
		ev.ObjectKey = schema.StudentPrefix("t1", "c", "a", ev.StudentID) + "f"
		ev.ReceiptID, ev.RequestDigest = schema.ReceiptID("t1", ev.IdempotencyKey), ev.Digest()
		in = append(in, pgstore.Incoming{Event: ev, Topic: "x", Offset: int64(i)})
	}
	if _, err := pgstore.RecordBatch(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantSecs ...int64) {
		t.Helper()
		var late int64
		for i, w := range wantSecs {
			rec, _, err := pgstore.GetSubmission(ctx, pool, "t1", in[i].Event.ReceiptID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Late != (w > 0) || rec.SecondsLate != w {
				t.Errorf("%s: submission %d late=%v seconds_late=%d, want %d", step, i, rec.Late, rec.SecondsLate, w)
			}
			if w > 0 {
				late++
			}
		}
		c, err := pgstore.AssignmentCounts(ctx, pool, "t1", "a")
		if err != nil || c.Late != late {
			t.Errorf("%s: counts %+v %v, want %d late", step, c, err, late)
		}
	}
	check("recorded", 0, 30, 5, 100)

	if r := put(due.Add(time.Minute), nil); r != (pgstore.Rejudgement{Rejudged: 4, NoLongerLate: 2}) {
		t.Errorf("due moved a minute later: %+v", r)
	}
	check("due moved", 0, 0, 0, 40)
	if r := put(due.Add(time.Minute), nil); r != (pgstore.Rejudgement{Rejudged: 4}) {
		t.Errorf("the same assignment again: %+v", r)
	}
	if r := put(due.Add(time.Minute), map[string]time.Time{"s3": due.Add(200 * time.Second)}); r != (pgstore.Rejudgement{Rejudged: 4, NoLongerLate: 1}) {
		t.Errorf("extension for s3: %+v", r)
	}
	check("extension", 0, 0, 0, 0)
	if r := put(due, nil); r != (pgstore.Rejudgement{Rejudged: 4, NowLate: 3}) {
		t.Errorf("both taken back: %+v", r)
	}
	check("taken back", 0, 30, 5, 100)
}
