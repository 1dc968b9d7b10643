package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// SubmissionRecord is one processed submission as stored.
type SubmissionRecord struct {
	ReceiptID, CourseID, AssignmentID, StudentID string
	ObjectKey, SHA256, ContentType               string
	Size                                         int64
	Attempt                                      int
	AcceptedAt, ProcessedAt                      time.Time
	ClientSubmittedAt                            *time.Time
	Late                                         bool
	SecondsLate                                  int64
}

// ConflictRecord is a reuse of a receipt's idempotency key with another payload.
type ConflictRecord struct {
	EventID    string
	DetectedAt time.Time
}

const submissionCols = `receipt_id, course_id, assignment_id, student_id, object_key, sha256, content_type,
	size, attempt, accepted_at, processed_at, client_submitted_at, late, seconds_late`

func scanSubmission(row pgx.CollectableRow) (SubmissionRecord, error) {
	var s SubmissionRecord
	err := row.Scan(&s.ReceiptID, &s.CourseID, &s.AssignmentID, &s.StudentID, &s.ObjectKey, &s.SHA256,
		&s.ContentType, &s.Size, &s.Attempt, &s.AcceptedAt, &s.ProcessedAt, &s.ClientSubmittedAt, &s.Late, &s.SecondsLate)
	return s, err
}

// GetSubmission returns a tenant's submission by receipt id, with any
// conflicts recorded against it; schema.ErrNotFound when no consumer has
// recorded it (yet).
func GetSubmission(ctx context.Context, pool *pgxpool.Pool, tenant, receiptID string) (*SubmissionRecord, []ConflictRecord, error) {
	rows, _ := pool.Query(ctx, `SELECT `+submissionCols+` FROM submissions WHERE tenant_id = $1 AND receipt_id = $2`, tenant, receiptID)
	s, err := pgx.CollectExactlyOneRow(rows, scanSubmission)
	if errors.Is(err, pgx.ErrNoRows) {
		err = schema.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	rows, _ = pool.Query(ctx, `SELECT event_id, detected_at FROM submission_conflicts
		WHERE tenant_id = $1 AND receipt_id = $2 ORDER BY detected_at`, tenant, receiptID)
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConflictRecord, error) {
		var c ConflictRecord
		return c, r.Scan(&c.EventID, &c.DetectedAt)
	})
	return &s, cs, err
}

// Cursor is a position in an assignment's list, after (AcceptedAt, ReceiptID).
type Cursor struct {
	AcceptedAt time.Time
	ReceiptID  string
}

// ListQuery selects a page of an assignment's submissions.
type ListQuery struct {
	Tenant, Assignment string
	After              *Cursor
	Limit              int
	// Latest keeps only each student's latest attempt.
	Latest bool
	// Student, when set, keeps only that student's submissions.
	Student string
	// Since and Until, when set, keep submissions accepted in [Since, Until).
	Since, Until *time.Time
}

// ListSubmissions returns a page in accept order (accepted_at, receipt_id).
func ListSubmissions(ctx context.Context, pool *pgxpool.Pool, q ListQuery) ([]SubmissionRecord, error) {
	table := "submissions"
	if q.Latest {
		table = "latest_submissions"
	}
	var afterT *time.Time
	afterR := ""
	if q.After != nil {
		afterT, afterR = &q.After.AcceptedAt, q.After.ReceiptID
	}
	rows, _ := pool.Query(ctx, `SELECT `+submissionCols+` FROM `+table+`
		WHERE tenant_id = $1 AND assignment_id = $2
		  AND ($3::timestamptz IS NULL OR (accepted_at, receipt_id) > ($3, $4))
		  AND ($5 = '' OR student_id = $5)
		  AND ($7::timestamptz IS NULL OR accepted_at >= $7)
		  AND ($8::timestamptz IS NULL OR accepted_at < $8)
		ORDER BY accepted_at, receipt_id
		LIMIT $6`, q.Tenant, q.Assignment, afterT, afterR, q.Student, q.Limit, q.Since, q.Until)
	return pgx.CollectRows(rows, scanSubmission)
}

// Counts are an assignment's counters.
type Counts struct {
	Submissions, Students, Late int64
	// Retrying and DeadLettered count receipts whose latest failure is in
	// that state, not redriven, and not processed since.
	Retrying, DeadLettered int64
}

// AssignmentCounts returns an assignment's counts (zero when none yet).
func AssignmentCounts(ctx context.Context, pool *pgxpool.Pool, tenant, assignment string) (Counts, error) {
	var c Counts
	err := pool.QueryRow(ctx, `
		SELECT coalesce((SELECT submissions FROM assignment_counters WHERE tenant_id = $1 AND assignment_id = $2), 0),
		       coalesce((SELECT students FROM assignment_counters WHERE tenant_id = $1 AND assignment_id = $2), 0),
		       coalesce((SELECT late FROM assignment_counters WHERE tenant_id = $1 AND assignment_id = $2), 0),
		       count(*) FILTER (WHERE f.state = 'retrying'),
		       count(*) FILTER (WHERE f.state = 'dead_lettered')
		FROM (SELECT DISTINCT ON (receipt_id) receipt_id, state, redrive_id FROM failures
		      WHERE tenant_id = $1 AND assignment_id = $2
		      ORDER BY receipt_id, last_failure_at DESC) f
		WHERE f.redrive_id IS NULL
		  AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.tenant_id = $1 AND s.receipt_id = f.receipt_id)`,
		tenant, assignment).Scan(&c.Submissions, &c.Students, &c.Late, &c.Retrying, &c.DeadLettered)
	if errors.Is(err, pgx.ErrNoRows) {
		return Counts{}, nil
	}
	return c, err
}
