package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/schema"
)

// APIKeyPrefix starts every API key, so a leaked key is easy to recognise
// in a secret scanner.
const APIKeyPrefix = "tik_"

// HashAPIKey returns the stored form of a key.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// NewAPIKey returns a fresh random key: the prefix and 256 random bits.
func NewAPIKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrTenantExists is returned by CreateTenant for a name already taken.
var ErrTenantExists = errors.New("tenant already exists")

// CreateTenant creates a tenant and its first API key, returned once in
// clear; only its digest is stored.
func CreateTenant(ctx context.Context, pool *pgxpool.Pool, tenant string) (string, error) {
	if err := schema.ValidateID(tenant); err != nil {
		return "", fmt.Errorf("tenant name: %w", err)
	}
	key := NewAPIKey()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (tenant_id) VALUES ($1)`, tenant); err != nil {
			if IsUniqueViolation(err) {
				return ErrTenantExists
			}
			return err
		}
		return insertKey(ctx, tx, tenant, key)
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

// AddAPIKey stores key for an existing tenant (or creates the tenant). It
// is how `turnin dev` installs a key given in TURNIN_DEV_API_KEY; adding a
// key that is already the tenant's does nothing.
func AddAPIKey(ctx context.Context, pool *pgxpool.Pool, tenant, key string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING`, tenant); err != nil {
			return err
		}
		h := HashAPIKey(key)
		var owner string
		err := tx.QueryRow(ctx, `SELECT tenant_id FROM api_keys WHERE key_sha256 = $1`, h[:]).Scan(&owner)
		switch {
		case err == nil && owner == tenant:
			_, err = tx.Exec(ctx, `UPDATE api_keys SET revoked_at = NULL WHERE key_sha256 = $1`, h[:])
			return err
		case err == nil:
			return fmt.Errorf("that API key belongs to another tenant")
		case errors.Is(err, pgx.ErrNoRows):
			return insertKey(ctx, tx, tenant, key)
		default:
			return err
		}
	})
}

// RevokeAPIKey revokes a key; APIs stop accepting it at their next refresh.
func RevokeAPIKey(ctx context.Context, pool *pgxpool.Pool, key string) error {
	h := HashAPIKey(key)
	tag, err := pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_sha256 = $1 AND revoked_at IS NULL`, h[:])
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return schema.ErrNotFound
	}
	return nil
}

// ActiveAPIKeys returns every unrevoked key digest and its tenant.
func ActiveAPIKeys(ctx context.Context, pool *pgxpool.Pool) (map[[32]byte]string, error) {
	rows, err := pool.Query(ctx, `SELECT key_sha256, tenant_id FROM api_keys WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, err
	}
	out := map[[32]byte]string{}
	var h []byte
	var tenant string
	_, err = pgx.ForEachRow(rows, []any{&h, &tenant}, func() error {
		out[[32]byte(h)] = tenant
		return nil
	})
	return out, err
}

func insertKey(ctx context.Context, tx pgx.Tx, tenant, key string) error {
	h := HashAPIKey(key)
	prefix := key
	if len(prefix) > 10 {
		prefix = prefix[:10]
	}
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (tenant_id, key_sha256, prefix) VALUES ($1, $2, $3)`, tenant, h[:], prefix)
	return err
}
