package schema

import "strconv"

// DefaultTopic is the main submissions topic. The name is configurable; every
// other topic name is derived from it.
const DefaultTopic = "submissions.v1"

// RetryTopic names retry tier n (1-based) of base: "submissions.v1.retry.1".
func RetryTopic(base string, n int) string { return base + ".retry." + strconv.Itoa(n) }

// DeadLetterTopic names the dead-letter topic of base: "submissions.v1.dlq".
func DeadLetterTopic(base string) string { return base + ".dlq" }

// Record header names set by the producer on every submission event.
const (
	// HeaderSchemaVersion carries the event's schema version ("1") so a
	// consumer can route or refuse a record without decoding its value.
	HeaderSchemaVersion = "turnin-schema-version"
	// HeaderEventID repeats the event id for tools that read headers only.
	HeaderEventID = "turnin-event-id"
	// HeaderTenant repeats the tenant id, for filtering without decoding.
	HeaderTenant = "turnin-tenant"
	// HeaderTraceParent is the W3C trace context of the accepting request.
	HeaderTraceParent = "traceparent"
	// HeaderContentType is the encoding of the record value.
	HeaderContentType = "content-type"
)

// Dead-letter and retry header names, added to the original record's headers
// (which are kept byte for byte) when it is moved to a retry tier or parked.
const (
	HeaderErrorClass     = "turnin-error-class"
	HeaderErrorMessage   = "turnin-error-message"
	HeaderAttempt        = "turnin-attempt"
	HeaderFirstFailureAt = "turnin-first-failure-at"
	HeaderLastFailureAt  = "turnin-last-failure-at"
	HeaderOriginTopic    = "turnin-origin-topic"
	HeaderOriginPart     = "turnin-origin-partition"
	HeaderOriginOffset   = "turnin-origin-offset"
	HeaderOriginGroup    = "turnin-origin-group"
)

// MaxErrorMessageHeader bounds the error message stored in a dead-letter
// header: enough to diagnose, never a stack trace or a payload copy.
const MaxErrorMessageHeader = 1024

// RecordKey is the partitioning key of a submission event. One student's
// attempts at one assignment share a key, so they stay in order.
func RecordKey(tenant, assignment, student string) string {
	return tenant + "/" + assignment + "/" + student
}
