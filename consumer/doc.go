// Package consumer is the second half of "accept fast, process slow": the
// consumer-group workers that drain the submissions topic into PostgreSQL at
// a rate the database sustains.
//
// One poll loop per process follows franz-go's rebalance-safe pattern:
// auto-commit off, BlockRebalanceOnPoll, a bounded poll, the batch processed
// and its offsets committed, then AllowRebalance — so a partition never
// changes hands while its batch is in flight, and an offset is committed
// only after the database transaction that holds its work has committed,
// or after the record was durably written (acks=all) to its failure topic.
//
// A batch goes through a chain of Steps (verify the stored object's
// SHA-256, an optional webhook, record in PostgreSQL). A step fails an item
// with a classified error (Permanent or Retryable) or fails the whole batch
// with an infrastructure error; then nothing is committed, the partitions
// are rewound to the batch's first offsets, and fetching pauses with a
// jittered backoff. Failed items go to a FailureRouter — the seam where the
// retry tiers plug in; the default parks them in the dead-letter topic.
package consumer
