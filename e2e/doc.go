// Package e2e is turnin's fault-injection suite. Its tests start the real
// turnin programs as processes (the API, consumers, the dead-letter
// indexer), drive a flood of submissions at them with clients that retry
// the way a real LMS does (same idempotency key), break things on purpose
// (kill -9 a process or a broker, restart PostgreSQL, take brokers away),
// and then check every request against what ended up on the log, in the
// database and in the dead-letter index.
//
// The package itself holds the checker: a Ledger of what every client was
// told, an Observed picture of where things ended, and Check, which
// applies DESIGN.md's invariants to the two. The scenarios are the tests.
//
// The suite runs against the embedded broker by default (`make test-embedded`) and
// against the 3-broker Apache Kafka cluster when TURNIN_TEST_KAFKA_SEEDS
// names it (`make test-cluster`); scenarios that need replication (a
// leader killed, the ISR shrunk) run only there and say so when skipped.
package e2e
