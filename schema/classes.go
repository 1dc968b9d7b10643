package schema

// ErrorClass names why a record could not be processed. It travels in the
// turnin-error-class header of retry and dead-letter records, is stored in
// the dead-letter index and shown in status. Classes are stable strings.
type ErrorClass string

// Permanent classes: retrying cannot help, the record goes straight to the
// dead-letter topic.
const (
	ClassInvalidPayload    ErrorClass = "invalid_payload"      // the value does not decode or validate
	ClassUnsupportedSchema ErrorClass = "unsupported_schema"   // written by a newer producer
	ClassUnknownAssignment ErrorClass = "unknown_assignment"   // the tenant has no such assignment
	ClassChecksumMismatch  ErrorClass = "checksum_mismatch"    // the stored object's SHA-256 differs
	ClassObjectMissing     ErrorClass = "object_missing"       // the object is gone from storage
	ClassKeyConflict       ErrorClass = "idempotency_conflict" // same key, different payload
	ClassWebhookRejected   ErrorClass = "webhook_rejected"     // the external step refused it (4xx)
	ClassDatabaseRejected  ErrorClass = "database_rejected"    // PostgreSQL refused the row itself (a constraint, a value it cannot store)
)

// Retryable classes: the record itself is fine; a later attempt may pass.
const (
	ClassWebhookFailed ErrorClass = "webhook_failed" // the external step failed or timed out
	ClassStorageError  ErrorClass = "storage_error"  // the object store failed for this record
)

// ClassUnclassified is an error no step classified: treated as retryable.
const ClassUnclassified ErrorClass = "unclassified"
