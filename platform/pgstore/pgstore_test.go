package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestMigrateIdempotentAndConcurrent: applying twice, or from several
// programs at once, leaves one schema at the latest version.
func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	pool, _ := testenv.Postgres(t) // already migrated from the template
	ctx := testenv.Ctx(t, time.Minute)
	ms, _ := schema.Migrations()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := pgstore.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
			if err == nil && (len(res.Applied) != 0 || res.Current != ms[len(ms)-1].Version) {
				err = fmt.Errorf("result %+v on a migrated database", res)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("%d rows in schema_migrations (%v), want %d", n, err, len(ms))
	}
}

// TestMigrateRefusesEditedMigration: a migration whose file changed after
// it was applied stops the run rather than leaving two schemas in the wild.
func TestMigrateRefusesEditedMigration(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := pool.Exec(ctx, `UPDATE schema_migrations SET checksum = 'deadbeefdeadbeef' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("an edited migration was accepted")
	}
}

// TestRecordBatchIdempotent: recording the same batch twice leaves the
// database as recording it once, counters included.
func TestRecordBatchIdempotent(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	if _, err := pgstore.CreateTenant(ctx, pool, "t1"); err != nil {
		t.Fatal(err)
	}
	due := time.Now().UTC().Truncate(time.Second)
	if _, err := pgstore.PutAssignment(ctx, pool, &schema.Assignment{TenantID: "t1", AssignmentID: "a", CourseID: "c", DueAt: due}); err != nil {
		t.Fatal(err)
	}
	var in []pgstore.Incoming
	for i := 0; i < 10; i++ {
		ev := &schema.Submission{SchemaVersion: 1, EventID: fmt.Sprint(i), TenantID: "t1", CourseID: "c", AssignmentID: "a",
			StudentID: fmt.Sprintf("s%d", i%4), IdempotencyKey: fmt.Sprint("k", i), Size: 1, ContentType: "text/plain",
			SHA256: fmt.Sprintf("%064x", i), AcceptedAt: due.Add(time.Duration(i-5) * time.Second)}
		ev.ObjectKey = schema.StudentPrefix("t1", "c", "a", ev.StudentID) + "f"
		ev.ReceiptID, ev.RequestDigest = schema.ReceiptID("t1", ev.IdempotencyKey), ev.Digest()
		in = append(in, pgstore.Incoming{Event: ev, Topic: "x", Offset: int64(i)})
	}
	for round := 0; round < 2; round++ {
		res, err := pgstore.RecordBatch(ctx, pool, in)
		if err != nil {
			t.Fatal(err)
		}
		want := pgstore.Recorded
		if round == 1 {
			want = pgstore.Duplicate
		}
		for i, o := range res.Outcomes {
			if o != want {
				t.Fatalf("round %d item %d: %v, want %v", round, i, o, want)
			}
		}
	}
	c, err := pgstore.AssignmentCounts(ctx, pool, "t1", "a")
	if err != nil || c != (pgstore.Counts{Submissions: 10, Students: 4, Late: 4}) {
		t.Fatalf("counts %+v %v", c, err)
	}
}

func TestIsTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "57014"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "22P02"}, false},
		{&pgconn.PgError{Code: "42P01"}, false},
		{context.DeadlineExceeded, true},
		{io.ErrUnexpectedEOF, true},
		{pgstore.ErrRaced, true},
		{errors.New("some bug"), false},
	} {
		if got := pgstore.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRejectsData(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "23514"}, true},                          // check constraint
		{&pgconn.PgError{Code: "23502"}, true},                          // not null
		{fmt.Errorf("batch: %w", &pgconn.PgError{Code: "22021"}), true}, // invalid byte sequence
		{&pgconn.PgError{Code: "22003"}, true},                          // numeric value out of range
		{&pgconn.PgError{Code: "23505"}, false},                         // unique: a concurrent writer
		{fmt.Errorf("%w: %w", pgstore.ErrRaced, &pgconn.PgError{Code: "23505"}), false},
		{&pgconn.PgError{Code: "42703"}, false}, // undefined column: the deployment
		{&pgconn.PgError{Code: "P0001"}, false},
		{&pgconn.PgError{Code: "40001"}, false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := pgstore.RejectsData(c.err); got != c.want {
			t.Errorf("RejectsData(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
