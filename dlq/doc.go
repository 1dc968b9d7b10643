// Package dlq is what happens after a record is parked: the index of every
// record in the retry tiers and the dead-letter topic (so status can say
// "retrying" or "dead_lettered"), alerts when records are dead-lettered,
// redrive of dead letters back into processing, and the audit that
// accounts for every accepted receipt.
//
// It reads the topics the consumers write and the database they record
// in; it never imports the consumer package. The header contract it reads
// is in schema.
package dlq
