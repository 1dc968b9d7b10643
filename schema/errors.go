package schema

import "errors"

// Code is a stable, machine-readable error code. Codes are part of the public
// contract: they may be added, never renamed or reused for another meaning.
type Code string

// Error codes reported by the HTTP API as {"error": {"code": …, "message": …}}.
const (
	// Authentication and authorization.
	CodeUnauthenticated Code = "unauthenticated" // missing or malformed Authorization header
	CodeInvalidAPIKey   Code = "invalid_api_key" // key unknown or revoked

	// Request shape.
	CodeUnsupportedMediaType  Code = "unsupported_media_type"  // body is not application/json
	CodePayloadTooLarge       Code = "payload_too_large"       // body over the configured limit
	CodeMalformedJSON         Code = "malformed_json"          // not one well-formed JSON object
	CodeJSONTooDeep           Code = "json_too_deep"           // nesting deeper than the decoder allows
	CodeUnknownField          Code = "unknown_field"           // a field the endpoint does not define
	CodeInvalidField          Code = "invalid_field"           // a field has the wrong type, format or range
	CodeMissingField          Code = "missing_field"           // a required field is absent or empty
	CodeIdempotencyKeyMissing Code = "idempotency_key_missing" // POST /v1/submissions without Idempotency-Key
	CodeIdempotencyKeyInvalid Code = "idempotency_key_invalid" // key too long or with characters outside the allowed set

	// Domain rules.
	CodeObjectKeyForbidden     Code = "object_key_forbidden"     // object key outside the student's upload prefix
	CodeObjectNotFound         Code = "object_not_found"         // nothing stored under the object key
	CodeObjectSizeMismatch     Code = "object_size_mismatch"     // stored size differs from the declared size
	CodeObjectChecksumMismatch Code = "object_checksum_mismatch" // stored SHA-256 differs from the declared one
	CodeUnknownAssignment      Code = "unknown_assignment"       // the tenant has no such assignment
	CodeCourseMismatch         Code = "course_mismatch"          // the assignment belongs to another course
	CodePastCutoff             Code = "past_cutoff"              // the assignment's hard cut-off has passed
	CodeNotFound               Code = "not_found"                // no such resource for this tenant
	CodeRouteNotFound          Code = "route_not_found"          // no such endpoint
	CodeMethodNotAllowed       Code = "method_not_allowed"       // endpoint exists, method does not

	// Availability. Every one of these is answered with Retry-After; the
	// client resends with the same Idempotency-Key and gets the same receipt.
	CodeBrokerUnavailable     Code = "broker_unavailable"      // the log refused or could not be reached; nothing was written
	CodeProduceOutcomeUnknown Code = "produce_outcome_unknown" // no answer in time; the event may or may not be on the log
	CodeStorageUnavailable    Code = "storage_unavailable"     // the object store could not be asked
	CodeDatabaseUnavailable   Code = "database_unavailable"    // PostgreSQL could not be reached (never on the accept path)
	CodeOverloaded            Code = "overloaded"              // too many requests in flight or buffered
	CodeInternal              Code = "internal"                // a bug; the message is generic, the log has details
)

// Codes lists every error code, for documentation and contract tests.
var Codes = []Code{
	CodeUnauthenticated, CodeInvalidAPIKey,
	CodeUnsupportedMediaType, CodePayloadTooLarge, CodeMalformedJSON, CodeJSONTooDeep,
	CodeUnknownField, CodeInvalidField, CodeMissingField, CodeIdempotencyKeyMissing,
	CodeIdempotencyKeyInvalid,
	CodeObjectKeyForbidden, CodeObjectNotFound, CodeObjectSizeMismatch, CodeObjectChecksumMismatch,
	CodeUnknownAssignment, CodeCourseMismatch, CodePastCutoff, CodeNotFound, CodeRouteNotFound,
	CodeMethodNotAllowed,
	CodeBrokerUnavailable, CodeProduceOutcomeUnknown, CodeStorageUnavailable,
	CodeDatabaseUnavailable, CodeOverloaded, CodeInternal,
}

// Error is an error with a stable code. Adapters translate their own errors
// into one at the boundary; surfaces map the code to a status in one place.
type Error struct {
	Code    Code
	Message string
	// Field names the offending request field, when there is one.
	Field string
	// Err is the underlying cause, for logs; it is never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf-free constructors keep call sites short and messages literal.

// NewError returns an *Error with code and message.
func NewError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// FieldError returns an *Error about one request field.
func FieldError(code Code, field, message string) *Error {
	return &Error{Code: code, Field: field, Message: message}
}

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrNotFound is returned by stores when a resource does not exist.
var ErrNotFound = errors.New("not found")
