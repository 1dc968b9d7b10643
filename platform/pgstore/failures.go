package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// Failure states.
const (
	FailureRetrying     = "retrying"
	FailureDeadLettered = "dead_lettered"
)

// Header is one record header, kept byte for byte.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"` // base64 in JSON
}

// Failure is one record written to a retry tier or the dead-letter topic.
type Failure struct {
	Topic     string
	Partition int32
	Offset    int64

	TenantID, ReceiptID, AssignmentID, StudentID string // empty when the value did not decode

	State                string
	ErrorClass, ErrorMsg string
	Attempt              int
	FirstFailureAt       *time.Time
	LastFailureAt        time.Time
	NextAttemptAt        *time.Time
	OriginTopic          string
	OriginPartition      int32
	OriginOffset         int64
	OriginGroup          string
	Key, Value           []byte
	Headers              []Header
	RedriveID            *int64
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// IndexFailures records failures idempotently (a record indexed twice is
// one row) and returns those that are new, so alerts fire once per record.
func IndexFailures(ctx context.Context, pool *pgxpool.Pool, fs []Failure) ([]Failure, error) {
	b := &pgx.Batch{}
	for _, f := range fs {
		hs, _ := json.Marshal(f.Headers)
		if f.Headers == nil {
			hs = []byte("[]")
		}
		b.Queue(`INSERT INTO failures (topic, partition, "offset", tenant_id, receipt_id, assignment_id, student_id,
				state, error_class, error_message, attempt, first_failure_at, last_failure_at, next_attempt_at,
				origin_topic, origin_partition, origin_offset, origin_group, record_key, record_value, record_headers)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)
			ON CONFLICT (topic, partition, "offset") DO NOTHING`,
			f.Topic, f.Partition, f.Offset, nullable(f.TenantID), nullable(f.ReceiptID), nullable(f.AssignmentID),
			nullable(f.StudentID), f.State, f.ErrorClass, f.ErrorMsg, f.Attempt, f.FirstFailureAt, f.LastFailureAt,
			f.NextAttemptAt, nullable(f.OriginTopic), f.OriginPartition, f.OriginOffset, nullable(f.OriginGroup),
			f.Key, f.Value, hs)
	}
	var fresh []Failure
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		fresh = fresh[:0]
		br := tx.SendBatch(ctx, b)
		for _, f := range fs {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return err
			}
			if tag.RowsAffected() == 1 {
				fresh = append(fresh, f)
			}
		}
		return br.Close()
	})
	return fresh, err
}

const failureCols = `topic, partition, "offset", coalesce(tenant_id, ''), coalesce(receipt_id, ''),
	coalesce(assignment_id, ''), coalesce(student_id, ''), state, error_class, error_message, attempt,
	first_failure_at, last_failure_at, next_attempt_at, coalesce(origin_topic, ''), coalesce(origin_partition, -1),
	coalesce(origin_offset, -1), coalesce(origin_group, ''), record_key, record_value, record_headers, redrive_id`

func scanFailure(row pgx.CollectableRow) (Failure, error) {
	var f Failure
	var hs []byte
	err := row.Scan(&f.Topic, &f.Partition, &f.Offset, &f.TenantID, &f.ReceiptID, &f.AssignmentID, &f.StudentID,
		&f.State, &f.ErrorClass, &f.ErrorMsg, &f.Attempt, &f.FirstFailureAt, &f.LastFailureAt, &f.NextAttemptAt,
		&f.OriginTopic, &f.OriginPartition, &f.OriginOffset, &f.OriginGroup, &f.Key, &f.Value, &hs, &f.RedriveID)
	if err == nil {
		err = json.Unmarshal(hs, &f.Headers)
	}
	return f, err
}

// LatestFailure returns a receipt's most recent failure that has not been
// redriven; schema.ErrNotFound when there is none.
func LatestFailure(ctx context.Context, pool *pgxpool.Pool, tenant, receiptID string) (*Failure, error) {
	rows, _ := pool.Query(ctx, `SELECT `+failureCols+` FROM failures
		WHERE tenant_id = $1 AND receipt_id = $2 ORDER BY last_failure_at DESC, attempt DESC LIMIT 1`, tenant, receiptID)
	f, err := pgx.CollectExactlyOneRow(rows, scanFailure)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && f.RedriveID != nil) {
		return nil, schema.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// FailureFilter selects failures. Zero fields do not filter.
type FailureFilter struct {
	State        string // retrying or dead_lettered
	Since, Until *time.Time
	Class        string
	Tenant       string
	Assignment   string
	ReceiptIDs   []string
	NotRedriven  bool
	Limit        int // 0: no limit
}

// ListFailures returns matching failures, oldest failure first.
func ListFailures(ctx context.Context, pool *pgxpool.Pool, f FailureFilter) ([]Failure, error) {
	var limit *int
	if f.Limit > 0 {
		limit = &f.Limit
	}
	rows, _ := pool.Query(ctx, `SELECT `+failureCols+` FROM failures
		WHERE ($1 = '' OR state = $1)
		  AND ($2::timestamptz IS NULL OR last_failure_at >= $2)
		  AND ($3::timestamptz IS NULL OR last_failure_at < $3)
		  AND ($4 = '' OR error_class = $4)
		  AND ($5 = '' OR tenant_id = $5)
		  AND ($6 = '' OR assignment_id = $6)
		  AND (coalesce(cardinality($7::text[]), 0) = 0 OR receipt_id = ANY($7))
		  AND (NOT $8 OR redrive_id IS NULL)
		ORDER BY last_failure_at, topic, partition, "offset"
		LIMIT $9`, f.State, f.Since, f.Until, f.Class, f.Tenant, f.Assignment, f.ReceiptIDs, f.NotRedriven, limit)
	return pgx.CollectRows(rows, scanFailure)
}

// StartRedrive records who asked for a redrive of what, and returns its id.
// A filter naming a tenant stamps the row with it.
func StartRedrive(ctx context.Context, pool *pgxpool.Pool, by string, filter FailureFilter, target string, matched int) (int64, error) {
	fj, err := json.Marshal(filter)
	if err != nil {
		return 0, err
	}
	var id int64
	err = pool.QueryRow(ctx, `INSERT INTO redrives (requested_by, filter, target, matched, tenant_id) VALUES ($1, $2, $3, $4, $5)
		RETURNING redrive_id`, by, fj, target, matched, nullable(filter.Tenant)).Scan(&id)
	return id, err
}

// RedriveRecord is one row of the redrive audit trail.
type RedriveRecord struct {
	ID          int64
	RequestedBy string
	RequestedAt time.Time
	Target      string
	Matched     int
	Moved       int
	FinishedAt  *time.Time
}

// Redrives returns the audit rows of the given redrive ids.
func Redrives(ctx context.Context, pool *pgxpool.Pool, ids []int64) (map[int64]RedriveRecord, error) {
	rows, _ := pool.Query(ctx, `SELECT redrive_id, requested_by, requested_at, target, matched, moved, finished_at
		FROM redrives WHERE redrive_id = ANY($1)`, ids)
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RedriveRecord, error) {
		var x RedriveRecord
		return x, r.Scan(&x.ID, &x.RequestedBy, &x.RequestedAt, &x.Target, &x.Matched, &x.Moved, &x.FinishedAt)
	})
	out := make(map[int64]RedriveRecord, len(rs))
	for _, r := range rs {
		out[r.ID] = r
	}
	return out, err
}

// MarkRedriven marks one failure as redriven by redrive id and counts it.
func MarkRedriven(ctx context.Context, pool *pgxpool.Pool, id int64, f *Failure) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE failures SET redrive_id = $1 WHERE topic = $2 AND partition = $3 AND "offset" = $4 AND redrive_id IS NULL`,
			id, f.Topic, f.Partition, f.Offset)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE redrives SET moved = moved + 1 WHERE redrive_id = $1`, id)
		return err
	})
}

// FinishRedrive stamps a redrive's end.
func FinishRedrive(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	_, err := pool.Exec(ctx, `UPDATE redrives SET finished_at = now() WHERE redrive_id = $1`, id)
	return err
}

// ReceiptState is what the database knows of one receipt.
type ReceiptState struct {
	Processed bool
	Failure   string // retrying or dead_lettered (latest, not redriven); "" when none
}

// ReceiptStates looks up many receipts at once, for the audit.
func ReceiptStates(ctx context.Context, pool *pgxpool.Pool, tenants, receipts []string) (map[[2]string]ReceiptState, error) {
	out := map[[2]string]ReceiptState{}
	rows, err := pool.Query(ctx, `
		SELECT k.t, k.r,
		       EXISTS (SELECT 1 FROM submissions s WHERE s.tenant_id = k.t AND s.receipt_id = k.r),
		       coalesce((SELECT f.state FROM failures f WHERE f.tenant_id = k.t AND f.receipt_id = k.r AND f.redrive_id IS NULL
		                 ORDER BY f.last_failure_at DESC LIMIT 1), '')
		FROM unnest($1::text[], $2::text[]) AS k(t, r)`, tenants, receipts)
	if err != nil {
		return nil, err
	}
	var t, r, state string
	var processed bool
	_, err = pgx.ForEachRow(rows, []any{&t, &r, &processed, &state}, func() error {
		out[[2]string{t, r}] = ReceiptState{Processed: processed, Failure: state}
		return nil
	})
	return out, err
}

// FailureAt reports whether a failure record names this origin position,
// for records that did not decode (and so have no receipt).
func FailureAt(ctx context.Context, pool *pgxpool.Pool, topic string, partition int32, offset int64) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM failures WHERE origin_topic = $1 AND origin_partition = $2 AND origin_offset = $3)`,
		topic, partition, offset).Scan(&ok)
	return ok, err
}
