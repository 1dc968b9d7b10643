// Package api is turnin's HTTP producer: the echo server LMS backends talk
// to. Its accept path does a fixed, tiny amount of work per request —
// authenticate against an in-memory key snapshot, validate the body, judge
// the deadline against an in-memory assignment snapshot, one HEAD on the
// object store, one record produced with acks=all — and answers 202 with a
// signed receipt only after the broker acknowledged. It never touches
// PostgreSQL: the snapshots are refreshed in the background.
//
// Errors are one JSON shape, {"error": {"code", "message"}}, with codes from
// schema and statuses from the one table in errors.go.
package api
