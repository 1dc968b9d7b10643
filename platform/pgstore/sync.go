package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// SyncSubmit is the synchronous comparison baseline — the essay's naive
// path — in one transaction per submission: the submission row, the
// student's enrollment row, and the assignment's counter row (one hot row
// for every student of the assignment). turnin never uses it to accept
// submissions unless told to (api.AcceptSync); it exists to be measured
// against the queue. It reports whether the row is new.
func SyncSubmit(ctx context.Context, pool *pgxpool.Pool, ev *schema.Submission, late bool, secondsLate int64) (bool, error) {
	var inserted bool
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var attempt int
		err := tx.QueryRow(ctx, `
			INSERT INTO submissions (tenant_id, receipt_id, idempotency_key, request_digest, event_id, course_id,
			    assignment_id, student_id, attempt, object_key, size, sha256, content_type, accepted_at,
			    client_submitted_at, late, seconds_late, source_topic, source_partition, source_offset)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8,
			       coalesce((SELECT max(attempt) FROM submissions WHERE tenant_id = $1 AND assignment_id = $7 AND student_id = $8), 0) + 1,
			       $9, $10, $11, $12, $13, $14, $15, $16, 'sync', -1, -1
			ON CONFLICT (tenant_id, receipt_id) DO NOTHING
			RETURNING attempt`,
			ev.TenantID, ev.ReceiptID, ev.IdempotencyKey, ev.RequestDigest, ev.EventID, ev.CourseID,
			ev.AssignmentID, ev.StudentID, ev.ObjectKey, ev.Size, ev.SHA256, ev.ContentType, ev.AcceptedAt,
			ev.ClientSubmittedAt, late, secondsLate).Scan(&attempt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a resend: the row is there already
		}
		if err != nil {
			return err
		}
		inserted = true
		if _, err := tx.Exec(ctx, `
			INSERT INTO enrollments (tenant_id, course_id, student_id, submissions, last_submitted_at)
			VALUES ($1, $2, $3, 1, $4)
			ON CONFLICT (tenant_id, course_id, student_id) DO UPDATE
			SET submissions = enrollments.submissions + 1, last_submitted_at = excluded.last_submitted_at`,
			ev.TenantID, ev.CourseID, ev.StudentID, ev.AcceptedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO assignment_counters (tenant_id, assignment_id, submissions, students, late)
			VALUES ($1, $2, 1, $3, $4)
			ON CONFLICT (tenant_id, assignment_id) DO UPDATE
			SET submissions = assignment_counters.submissions + 1,
			    students = assignment_counters.students + excluded.students,
			    late = assignment_counters.late + excluded.late`,
			ev.TenantID, ev.AssignmentID, b2i(attempt == 1), b2i(late))
		return err
	})
	return inserted, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
