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
	Rejudgement
}

// Rejudgement says what judging processed submissions again changed.
type Rejudgement struct {
	// Rejudged counts the processed submissions whose lateness was judged
	// again on accepted_at against the deadline now in force.
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
	if len(g.Students) == 0 {
		return nil, errors.New("pgstore: a grant needs at least one student")
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
		if res.Rejudgement, err = rejudge(ctx, tx, g.Tenant, g.Assignment, g.Students); err != nil {
			return err
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

// rejudge judges the processed submissions of an assignment — all of them
// when students is nil, else only theirs — again on accepted_at against each
// student's deadline now in force (an extension, or the due time), rewrites
// the rows whose lateness changed and adjusts the assignment's late counter
// by the difference. The caller holds the assignment's row FOR UPDATE, so
// no batch judges the assignment meanwhile (see lookup).
func rejudge(ctx context.Context, tx pgx.Tx, tenant, assignment string, students []string) (Rejudgement, error) {
	var r Rejudgement
	// Seconds late round up, as schema.Assignment.Lateness does.
	err := tx.QueryRow(ctx, `
		WITH judged AS (
		    SELECT s.receipt_id, s.late AS was,
		           s.accepted_at > coalesce(e.due_at, a.due_at) AS late,
		           greatest(ceil(extract(epoch FROM s.accepted_at - coalesce(e.due_at, a.due_at))), 0)::bigint AS secs
		    FROM submissions s
		    JOIN assignments a USING (tenant_id, assignment_id)
		    LEFT JOIN assignment_extensions e USING (tenant_id, assignment_id, student_id)
		    WHERE s.tenant_id = $1 AND s.assignment_id = $2 AND ($3::text[] IS NULL OR s.student_id = ANY($3))
		), upd AS (
		    UPDATE submissions s SET late = j.late, seconds_late = j.secs
		    FROM judged j
		    WHERE s.tenant_id = $1 AND s.receipt_id = j.receipt_id
		      AND (s.late, s.seconds_late) IS DISTINCT FROM (j.late, j.secs)
		    RETURNING j.was, j.late
		)
		SELECT (SELECT count(*) FROM judged), count(*) FILTER (WHERE was AND NOT late), count(*) FILTER (WHERE late AND NOT was)
		FROM upd`,
		tenant, assignment, students).Scan(&r.Rejudged, &r.NoLongerLate, &r.NowLate)
	if err != nil {
		return r, err
	}
	if d := r.NowLate - r.NoLongerLate; d != 0 {
		if _, err := tx.Exec(ctx, `UPDATE assignment_counters SET late = late + $3
			WHERE tenant_id = $1 AND assignment_id = $2`, tenant, assignment, d); err != nil {
			return r, err
		}
	}
	return r, nil
}
