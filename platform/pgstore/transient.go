package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err is a database failure that says nothing
// about the data — the server is down, restarting, failing over, overloaded,
// or the transaction lost a deadlock or serialization race — so the same
// work should be retried later, unchanged. It decides by error type and
// SQLSTATE class, never by message.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRaced) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	// Any failure to connect is transient, whatever the server said.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pe.Code, "53"): // insufficient resources (too many connections, disk full)
			return true
		case strings.HasPrefix(pe.Code, "57P"): // admin shutdown, crash shutdown, cannot connect now
			return true
		}
		switch pe.Code {
		case "40001", "40P01", // serialization failure, deadlock
			"57014", // query canceled (statement timeout)
			"55P03", // lock not available
			"25006": // read-only transaction: a standby after failover
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// RejectsData reports whether err is the server refusing the data itself —
// a data exception (SQLSTATE class 22: a value out of range, an invalid
// byte sequence) or an integrity constraint violation (class 23: a check,
// not-null or foreign-key constraint) — rather than the server being
// unavailable or the deployment being broken (a missing column or
// privilege, class 42, is the operator's to fix, not the record's fault).
// Such a failure repeats for the same rows, so the rows that cause it must
// be found and set aside. A unique violation is not counted: a concurrent
// writer causes those, and a retry passes.
func RejectsData(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || IsUniqueViolation(err) {
		return false
	}
	return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
}
