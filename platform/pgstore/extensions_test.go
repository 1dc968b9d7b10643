package pgstore_test

import (
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
	if err := pgstore.PutAssignment(ctx, pool, &schema.Assignment{TenantID: "t1", AssignmentID: "a", CourseID: "c", DueAt: due}); err != nil {
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
