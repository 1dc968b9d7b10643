package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// PutAssignment creates or replaces an assignment and its extensions in one
// transaction. Extensions not listed are removed: the assignment as sent is
// the whole truth. Submissions already processed are judged again, in the
// same transaction, against the deadlines as sent (a due time moved later
// makes late rows on time, a removed extension can make them late), and
// the assignment's late counter follows.
//
// The assignment's row is locked first, FOR UPDATE, as GrantExtensions
// locks it: a batch being judged against the old deadlines finishes before
// and is judged again here, a later batch waits and sees the new ones.
func PutAssignment(ctx context.Context, pool *pgxpool.Pool, a *schema.Assignment) (Rejudgement, error) {
	var r Rejudgement
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM assignments WHERE tenant_id = $1 AND assignment_id = $2 FOR UPDATE`,
			a.TenantID, a.AssignmentID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO assignments (tenant_id, assignment_id, course_id, due_at, cutoff_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant_id, assignment_id) DO UPDATE
			SET course_id = excluded.course_id, due_at = excluded.due_at,
			    cutoff_at = excluded.cutoff_at, updated_at = now()`,
			a.TenantID, a.AssignmentID, a.CourseID, a.DueAt, a.CutoffAt)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM assignment_extensions WHERE tenant_id = $1 AND assignment_id = $2`,
			a.TenantID, a.AssignmentID); err != nil {
			return err
		}
		if len(a.Extensions) > 0 {
			rows := make([][]any, 0, len(a.Extensions))
			for s, d := range a.Extensions {
				rows = append(rows, []any{a.TenantID, a.AssignmentID, s, d})
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"assignment_extensions"},
				[]string{"tenant_id", "assignment_id", "student_id", "due_at"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		r, err = rejudge(ctx, tx, a.TenantID, a.AssignmentID, nil)
		return err
	})
	return r, err
}

// AssignmentKey identifies an assignment within a tenant.
type AssignmentKey struct{ Tenant, Assignment string }

// AllAssignments loads every assignment with its extensions, for the API's
// in-memory snapshot.
func AllAssignments(ctx context.Context, pool *pgxpool.Pool) (map[AssignmentKey]*schema.Assignment, error) {
	var out map[AssignmentKey]*schema.Assignment
	// One repeatable-read snapshot, so extensions match their assignments.
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = allAssignments(ctx, tx)
		return err
	})
	return out, err
}

func allAssignments(ctx context.Context, tx pgx.Tx) (map[AssignmentKey]*schema.Assignment, error) {
	out := map[AssignmentKey]*schema.Assignment{}
	rows, err := tx.Query(ctx, `SELECT tenant_id, assignment_id, course_id, due_at, cutoff_at FROM assignments`)
	if err != nil {
		return nil, err
	}
	var a schema.Assignment
	var cutoff *time.Time
	_, err = pgx.ForEachRow(rows, []any{&a.TenantID, &a.AssignmentID, &a.CourseID, &a.DueAt, &cutoff}, func() error {
		c := a
		c.CutoffAt = cutoff
		out[AssignmentKey{c.TenantID, c.AssignmentID}] = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT tenant_id, assignment_id, student_id, due_at FROM assignment_extensions`)
	if err != nil {
		return nil, err
	}
	var k AssignmentKey
	var student string
	var due time.Time
	_, err = pgx.ForEachRow(rows, []any{&k.Tenant, &k.Assignment, &student, &due}, func() error {
		if a := out[k]; a != nil {
			if a.Extensions == nil {
				a.Extensions = map[string]time.Time{}
			}
			a.Extensions[student] = due
		}
		return nil
	})
	return out, err
}
