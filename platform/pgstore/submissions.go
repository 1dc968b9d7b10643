package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// Incoming is one submission event to record, with where it was read.
type Incoming struct {
	Event     *schema.Submission
	Topic     string
	Partition int32
	Offset    int64
}

// Outcome says what recording one event did.
type Outcome int

const (
	// Recorded: a new row was written.
	Recorded Outcome = iota
	// Duplicate: the receipt's row exists with the same payload; nothing changed.
	Duplicate
	// Conflict: the receipt's row exists with another payload; the event was
	// kept in submission_conflicts, the row left as it was.
	Conflict
	// UnknownAssignment: the tenant has no such assignment; nothing was written.
	UnknownAssignment
)

func (o Outcome) String() string {
	return [...]string{"recorded", "duplicate", "conflict", "unknown_assignment"}[o]
}

// BatchResult is what RecordBatch did with each event, index for index.
type BatchResult struct {
	Outcomes []Outcome
}

// ErrRaced is returned when another writer recorded one of the batch's
// receipts between this transaction's read and its write (possible only
// while a partition moves between consumers). Retrying the batch resolves it.
var ErrRaced = errors.New("pgstore: a concurrent writer recorded part of this batch; retry")

type triple struct{ tenant, assignment, student string }

// RecordBatch records a batch of events in one transaction: new receipts
// become rows (with their attempt number and lateness, judged on
// accepted_at), known receipts change nothing, reused keys with another
// payload are kept as conflicts, and per-assignment counters are bumped
// once per assignment with the batch's totals. It is idempotent: recording
// the same batch twice leaves the database as recording it once.
func RecordBatch(ctx context.Context, pool *pgxpool.Pool, in []Incoming) (*BatchResult, error) {
	var res *BatchResult
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		res, err = recordBatch(ctx, tx, in)
		return err
	})
	if IsUniqueViolation(err) {
		return nil, fmt.Errorf("%w: %w", ErrRaced, err)
	}
	return res, err
}

func recordBatch(ctx context.Context, tx pgx.Tx, in []Incoming) (*BatchResult, error) {
	res := &BatchResult{Outcomes: make([]Outcome, len(in))}
	assignments, existing, attempts, err := lookup(ctx, tx, in)
	if err != nil {
		return nil, err
	}

	type counter struct{ submissions, students, late int64 }
	counters := map[AssignmentKey]*counter{}
	var rows [][]any
	var conflicts []Incoming
	for i, item := range in {
		ev := item.Event
		rk := [2]string{ev.TenantID, ev.ReceiptID}
		if digest, ok := existing[rk]; ok {
			if digest == ev.RequestDigest {
				res.Outcomes[i] = Duplicate
			} else {
				res.Outcomes[i] = Conflict
				conflicts = append(conflicts, item)
			}
			continue
		}
		a := assignments[AssignmentKey{ev.TenantID, ev.AssignmentID}]
		if a == nil {
			res.Outcomes[i] = UnknownAssignment
			continue
		}
		// Later events in this batch see this one as existing.
		existing[rk] = ev.RequestDigest
		tk := triple{ev.TenantID, ev.AssignmentID, ev.StudentID}
		attempts[tk]++
		late, secs := a.Lateness(ev.StudentID, ev.AcceptedAt)
		res.Outcomes[i] = Recorded
		c := counters[AssignmentKey{ev.TenantID, ev.AssignmentID}]
		if c == nil {
			c = &counter{}
			counters[AssignmentKey{ev.TenantID, ev.AssignmentID}] = c
		}
		c.submissions++
		if attempts[tk] == 1 {
			c.students++
		}
		if late {
			c.late++
		}
		rows = append(rows, []any{
			ev.TenantID, ev.ReceiptID, ev.IdempotencyKey, ev.RequestDigest, ev.EventID,
			ev.CourseID, ev.AssignmentID, ev.StudentID, attempts[tk], ev.ObjectKey, ev.Size, ev.SHA256,
			ev.ContentType, ev.AcceptedAt, ev.ClientSubmittedAt, late, secs,
			item.Topic, item.Partition, item.Offset,
		})
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"submissions"}, []string{
			"tenant_id", "receipt_id", "idempotency_key", "request_digest", "event_id",
			"course_id", "assignment_id", "student_id", "attempt", "object_key", "size", "sha256",
			"content_type", "accepted_at", "client_submitted_at", "late", "seconds_late",
			"source_topic", "source_partition", "source_offset",
		}, pgx.CopyFromRows(rows)); err != nil {
			return nil, err
		}
	}
	if len(conflicts) > 0 {
		b := &pgx.Batch{}
		for _, c := range conflicts {
			raw, _ := json.Marshal(c.Event)
			b.Queue(`INSERT INTO submission_conflicts
				(tenant_id, receipt_id, request_digest, event_id, event, source_topic, source_partition, source_offset)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
				c.Event.TenantID, c.Event.ReceiptID, c.Event.RequestDigest, c.Event.EventID, raw, c.Topic, c.Partition, c.Offset)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
	}
	if len(counters) > 0 {
		// Sorted, so concurrent batches lock counter rows in one order.
		keys := make([]AssignmentKey, 0, len(counters))
		for k := range counters {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].Tenant != keys[j].Tenant {
				return keys[i].Tenant < keys[j].Tenant
			}
			return keys[i].Assignment < keys[j].Assignment
		})
		var ts, as []string
		var subs, studs, lates []int64
		for _, k := range keys {
			c := counters[k]
			ts, as = append(ts, k.Tenant), append(as, k.Assignment)
			subs, studs, lates = append(subs, c.submissions), append(studs, c.students), append(lates, c.late)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO assignment_counters (tenant_id, assignment_id, submissions, students, late)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
			ON CONFLICT (tenant_id, assignment_id) DO UPDATE SET
			    submissions = assignment_counters.submissions + excluded.submissions,
			    students    = assignment_counters.students + excluded.students,
			    late        = assignment_counters.late + excluded.late`,
			ts, as, subs, studs, lates); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// lookup reads, in one round trip, what the batch is judged against: its
// assignments with the students' extensions, the digests of receipts
// already recorded, and each student's latest attempt number.
//
// The assignments are read FOR KEY SHARE: batches do not block each other,
// but a bulk extension (GrantExtensions, which locks the row FOR UPDATE)
// waits for batches judged against the old deadlines to commit, so it can
// rejudge them, and later batches see its extensions.
//
// The receipt and attempt look-ups are LATERAL joins on purpose: each key is
// one index probe, whatever the planner thinks of the table's size. A plain
// join against unnest() can be planned as a hash join that scans the whole
// submissions table once per batch — quadratic over a flood.
func lookup(ctx context.Context, tx pgx.Tx, in []Incoming) (
	assignments map[AssignmentKey]*schema.Assignment, existing map[[2]string]string, attempts map[triple]int, err error,
) {
	seenA, seenS := map[AssignmentKey]bool{}, map[triple]bool{}
	var at, aa, st, sa, ss []string
	ts, rs := make([]string, len(in)), make([]string, len(in))
	for i, item := range in {
		ev := item.Event
		ts[i], rs[i] = ev.TenantID, ev.ReceiptID
		if k := (AssignmentKey{ev.TenantID, ev.AssignmentID}); !seenA[k] {
			seenA[k] = true
			at, aa = append(at, k.Tenant), append(aa, k.Assignment)
		}
		if k := (triple{ev.TenantID, ev.AssignmentID, ev.StudentID}); !seenS[k] {
			seenS[k] = true
			st, sa, ss = append(st, k.tenant), append(sa, k.assignment), append(ss, k.student)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`
		SELECT a.tenant_id, a.assignment_id, a.course_id, a.due_at, a.cutoff_at
		FROM assignments a JOIN unnest($1::text[], $2::text[]) AS k(t, a)
		  ON a.tenant_id = k.t AND a.assignment_id = k.a
		FOR KEY SHARE OF a`, at, aa)
	b.Queue(`
		SELECT e.tenant_id, e.assignment_id, e.student_id, e.due_at
		FROM assignment_extensions e JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, a, s)
		  ON e.tenant_id = k.t AND e.assignment_id = k.a AND e.student_id = k.s`, st, sa, ss)
	b.Queue(`
		SELECT k.t, k.r, x.request_digest
		FROM unnest($1::text[], $2::text[]) AS k(t, r)
		CROSS JOIN LATERAL (
		    SELECT request_digest FROM submissions s WHERE s.tenant_id = k.t AND s.receipt_id = k.r
		) x`, ts, rs)
	b.Queue(`
		SELECT k.t, k.a, k.st, x.attempt
		FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, a, st)
		CROSS JOIN LATERAL (
		    SELECT attempt FROM submissions s
		    WHERE s.tenant_id = k.t AND s.assignment_id = k.a AND s.student_id = k.st
		    ORDER BY attempt DESC LIMIT 1
		) x`, st, sa, ss)
	br := tx.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()

	assignments = map[AssignmentKey]*schema.Assignment{}
	var a schema.Assignment
	var cutoff *time.Time
	rows, _ := br.Query()
	if _, err = pgx.ForEachRow(rows, []any{&a.TenantID, &a.AssignmentID, &a.CourseID, &a.DueAt, &cutoff}, func() error {
		c := a
		c.CutoffAt = cutoff
		assignments[AssignmentKey{c.TenantID, c.AssignmentID}] = &c
		return nil
	}); err != nil {
		return nil, nil, nil, err
	}
	var k triple
	var due time.Time
	rows, _ = br.Query()
	if _, err = pgx.ForEachRow(rows, []any{&k.tenant, &k.assignment, &k.student, &due}, func() error {
		if a := assignments[AssignmentKey{k.tenant, k.assignment}]; a != nil {
			if a.Extensions == nil {
				a.Extensions = map[string]time.Time{}
			}
			a.Extensions[k.student] = due
		}
		return nil
	}); err != nil {
		return nil, nil, nil, err
	}
	existing = map[[2]string]string{}
	var t, r, d string
	rows, _ = br.Query()
	if _, err = pgx.ForEachRow(rows, []any{&t, &r, &d}, func() error { existing[[2]string{t, r}] = d; return nil }); err != nil {
		return nil, nil, nil, err
	}
	attempts = map[triple]int{}
	var n int
	rows, _ = br.Query()
	if _, err = pgx.ForEachRow(rows, []any{&k.tenant, &k.assignment, &k.student, &n}, func() error { attempts[k] = n; return nil }); err != nil {
		return nil, nil, nil, err
	}
	return assignments, existing, attempts, nil
}
