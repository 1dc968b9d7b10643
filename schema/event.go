package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// SchemaVersion is the version of the submission event this package writes.
const SchemaVersion = 1

// EventContentType is the content-type header of an encoded event.
const EventContentType = "application/json"

// Submission is the v1 submission event: a reference to a file already in
// object storage, never the file itself. One is written per accepted request;
// a resent request writes another event with the same ReceiptID.
//
// The JSON names are the wire format, pinned by testdata/submission.v1.golden.json
// and described by jsonschema/submission.v1.schema.json.
type Submission struct {
	SchemaVersion     int        `json:"schema_version"`
	EventID           string     `json:"event_id"`
	ReceiptID         string     `json:"receipt_id"`
	TenantID          string     `json:"tenant_id"`
	CourseID          string     `json:"course_id"`
	AssignmentID      string     `json:"assignment_id"`
	StudentID         string     `json:"student_id"`
	IdempotencyKey    string     `json:"idempotency_key"`
	ObjectKey         string     `json:"object_key"`
	Size              int64      `json:"size"`
	SHA256            string     `json:"sha256"`
	ContentType       string     `json:"content_type"`
	AcceptedAt        time.Time  `json:"accepted_at"`
	ClientSubmittedAt *time.Time `json:"client_submitted_at,omitempty"`
	// RequestDigest is the SHA-256 of the request's content fields
	// (see Submission.Digest). Two events with one receipt id and different
	// digests are the same idempotency key reused for a different payload:
	// a conflict, never merged.
	RequestDigest string     `json:"request_digest"`
	Client        ClientMeta `json:"client"`
}

// ClientMeta describes the request that produced an event. It holds no
// personal data beyond what the LMS sent as identifiers.
type ClientMeta struct {
	UserAgent string `json:"user_agent,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Digest returns the hex SHA-256 of the fields that define what was
// submitted. Server-assigned fields (event id, times, client meta) are left
// out, so a resend of the same request has the same digest.
func (s *Submission) Digest() string {
	buf := make([]byte, 0, 512)
	for _, f := range [...]string{
		s.TenantID, s.CourseID, s.AssignmentID, s.StudentID,
		s.ObjectKey, strconv.FormatInt(s.Size, 10), s.SHA256, s.ContentType,
	} {
		// Length-prefix each field so no two field lists hash alike.
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ';')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// Key is the record key of this event.
func (s *Submission) Key() string { return RecordKey(s.TenantID, s.AssignmentID, s.StudentID) }

// Encode returns the event's wire form. Times are written in UTC.
func (s *Submission) Encode() ([]byte, error) {
	c := *s
	c.AcceptedAt = c.AcceptedAt.UTC()
	if c.ClientSubmittedAt != nil {
		t := c.ClientSubmittedAt.UTC()
		c.ClientSubmittedAt = &t
	}
	return json.Marshal(&c)
}

// ErrUnsupportedVersion is returned by DecodeSubmission for an event written
// by a newer producer than this code understands.
var ErrUnsupportedVersion = errors.New("unsupported schema version")

// ErrInvalidEvent is wrapped by every DecodeSubmission error about the
// content of an event (as opposed to its version).
var ErrInvalidEvent = errors.New("invalid submission event")

// DecodeSubmission parses and validates an encoded event. Unknown fields are
// ignored so that a v1 reader keeps working when fields are added; missing or
// malformed required fields are an error wrapping ErrInvalidEvent, a newer
// major version one wrapping ErrUnsupportedVersion. Both are permanent: a
// record that fails here is poison and belongs in the dead-letter topic.
func DecodeSubmission(b []byte) (*Submission, error) {
	var s Submission
	// Unmarshal refuses trailing data after the object too.
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if s.SchemaVersion != SchemaVersion {
		if s.SchemaVersion > SchemaVersion {
			return nil, fmt.Errorf("%w: %d (this reader knows %d)", ErrUnsupportedVersion, s.SchemaVersion, SchemaVersion)
		}
		return nil, fmt.Errorf("%w: schema_version %d", ErrInvalidEvent, s.SchemaVersion)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return &s, nil
}

// Validate checks the event's fields, the same rules the API applies to a
// request, so a consumer never trusts a record only because it is on the topic.
func (s *Submission) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"tenant_id", s.TenantID}, {"course_id", s.CourseID},
		{"assignment_id", s.AssignmentID}, {"student_id", s.StudentID},
	} {
		if err := ValidateID(f.v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	switch {
	case !printable(s.EventID, 128):
		return errors.New("event_id: must be 1 to 128 printable characters")
	case s.ReceiptID != ReceiptID(s.TenantID, s.IdempotencyKey):
		return errors.New("receipt_id: not the receipt id of tenant_id and idempotency_key")
	case ValidateIdempotencyKey(s.IdempotencyKey) != nil:
		return fmt.Errorf("idempotency_key: %w", ValidateIdempotencyKey(s.IdempotencyKey))
	case !HasStudentPrefix(s.ObjectKey, s.TenantID, s.CourseID, s.AssignmentID, s.StudentID):
		return errors.New("object_key: not under the student's upload prefix")
	case s.Size <= 0:
		return errors.New("size: must be positive")
	case !ValidSHA256(s.SHA256):
		return errors.New("sha256: must be 64 lowercase hex digits")
	case !printable(s.ContentType, 255):
		return errors.New("content_type: must be 1 to 255 printable characters")
	case s.AcceptedAt.IsZero():
		return errors.New("accepted_at: missing")
	case s.RequestDigest != s.Digest():
		return errors.New("request_digest: does not match the event's fields")
	}
	return nil
}

// printable reports whether s is 1 to max bytes of printable ASCII and
// spaces: nothing a database or a header would choke on (a NUL byte in a
// text column would fail every write of the batch, again and again).
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
