package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// migrationLock is the advisory lock key that serializes migrators, so two
// programs starting at once do not race to apply the same file.
const migrationLock = 0x7475726e696e // "turnin"

// MigrationResult says what Migrate did.
type MigrationResult struct {
	Applied []int // versions applied by this call
	Current int   // the schema version after the call
}

// Migrate applies every embedded migration not yet applied, in order, each
// in its own transaction together with its row in schema_migrations. It is
// idempotent, safe to run concurrently, and refuses to continue when an
// applied migration's file has changed since (its checksum is recorded).
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (MigrationResult, error) {
	var res MigrationResult
	ms, err := schema.Migrations()
	if err != nil {
		return res, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return res, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must run even when ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrationLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	applied := map[int]string{}
	rows, _ := conn.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
	var v int
	var sum string
	if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil }); err != nil {
		return res, fmt.Errorf("migrate: read applied: %w", err)
	}
	for _, m := range ms {
		h := sha256.Sum256([]byte(m.SQL))
		sum := hex.EncodeToString(h[:])
		if prev, ok := applied[m.Version]; ok {
			if prev != sum {
				return res, fmt.Errorf("migrate: migration %04d_%s changed after it was applied (checksum %s, applied %s); add a new migration instead", m.Version, m.Name, sum[:12], prev[:12])
			}
			res.Current = m.Version
			continue
		}
		start := time.Now()
		log.Info("applying migration", "version", m.Version, "name", m.Name)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, m.Version, m.Name, sum)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("applied migration", "version", m.Version, "name", m.Name, "took", time.Since(start).Round(time.Millisecond))
		res.Applied = append(res.Applied, m.Version)
		res.Current = m.Version
	}
	return res, nil
}
