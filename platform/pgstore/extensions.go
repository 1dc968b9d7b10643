package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// Grant is a bulk extension: one new deadline for a set of students.
type Grant struct {
	Tenant, Assignment string
	Students           []string
	DueAt              time.Time
	// By names who granted it, for the audit trail. Required.
	By string
}

// GrantResult says what a grant changed.
type GrantResult struct {
	ID int64
	// Rejudged counts the students' processed submissions whose lateness
	// was judged again against the new deadline.
	Rejudged int
	// NoLongerLate and NowLate count those whose late flag changed.
	NoLongerLate, NowLate int
}

// GrantExtensions gives each student the new deadline (replacing any
// extension they had) and, in the same transaction, judges their already
// processed submissions again on accepted_at against it, adjusts the
// assignment's late counter by the difference and records the grant.
//
// The assignment's row is locked for the transaction. The consumers take a
// key-share lock on it while they judge a batch (see lookup), so a batch
// is judged either wholly before the grant — and rejudged by it — or
// wholly after, against the new deadline: no submission escapes it.
func GrantExtensions(ctx context.Context, pool *pgxpool.Pool, g Grant) (*GrantResult, error) {
	if g.By == "" {
		return nil, errors.New("pgstore: a grant needs the name of who gives it")
	}
	res := &GrantResult{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM assignments WHERE tenant_id = $1 AND assignment_id = $2 FOR UPDATE`,
			g.Tenant, g.Assignment).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return schema.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO assignment_extensions (tenant_id, assignment_id, student_id, due_at)
			SELECT $1, $2, s, $4 FROM unnest($3::text[]) AS s
			ON CONFLICT (tenant_id, assignment_id, student_id) DO UPDATE SET due_at = excluded.due_at`,
			g.Tenant, g.Assignment, g.Students, g.DueAt); err != nil {
			return err
		}
		// Seconds late round up, as schema.Assignment.Lateness does.
		err = tx.QueryRow(ctx, `
			WITH prev AS (
			    SELECT receipt_id, late FROM submissions
			    WHERE tenant_id = $1 AND assignment_id = $2 AND student_id = ANY($3)
			    FOR UPDATE
			), upd AS (
			    UPDATE submissions s
			    SET late = s.accepted_at > $4,
			        seconds_late = CASE WHEN s.accepted_at > $4
			                            THEN ceil(extract(epoch FROM s.accepted_at - $4))::bigint ELSE 0 END
			    FROM prev
			    WHERE s.tenant_id = $1 AND s.receipt_id = prev.receipt_id
			    RETURNING prev.late AS was, s.late AS now
			)
			SELECT count(*), count(*) FILTER (WHERE was AND NOT now), count(*) FILTER (WHERE now AND NOT was) FROM upd`,
			g.Tenant, g.Assignment, g.Students, g.DueAt).Scan(&res.Rejudged, &res.NoLongerLate, &res.NowLate)
		if err != nil {
			return err
		}
		if d := res.NowLate - res.NoLongerLate; d != 0 {
			if _, err := tx.Exec(ctx, `UPDATE assignment_counters SET late = late + $3
				WHERE tenant_id = $1 AND assignment_id = $2`, g.Tenant, g.Assignment, d); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE assignments SET updated_at = now() WHERE tenant_id = $1 AND assignment_id = $2`,
			g.Tenant, g.Assignment); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO extension_grants (tenant_id, assignment_id, students, due_at, granted_by, rejudged)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING grant_id`,
			g.Tenant, g.Assignment, g.Students, g.DueAt, g.By, res.Rejudged).Scan(&res.ID)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
