package schema

import "time"

// The HTTP API's JSON bodies, shared by the server and the Go client so the
// two cannot drift. schema/openapi.yaml documents them; the API's contract
// test checks the server's answers against that document.

// Submission states. Every accepted submission is, at any time, in exactly
// one of them.
const (
	StateQueued       = "queued"
	StateProcessed    = "processed"
	StateRetrying     = "retrying"
	StateDeadLettered = "dead_lettered"
)

// ErrorBody is the one error shape every endpoint answers with.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Field names the offending request field, when there is one.
	Field string `json:"field,omitempty"`
	// RequestID is the X-Request-Id of the request, to quote in a report.
	RequestID string `json:"request_id,omitempty"`
}

// AssignmentSpec is an assignment: the body of PUT
// /v1/assignments/{assignment_id} and the answer of GET.
type AssignmentSpec struct {
	AssignmentID string      `json:"assignment_id,omitempty"` // in answers only
	CourseID     string      `json:"course_id"`
	DueAt        time.Time   `json:"due_at"`
	CutoffAt     *time.Time  `json:"cutoff_at,omitempty"`
	Extensions   []Extension `json:"extensions"`
}

// Extension is one student's own deadline.
type Extension struct {
	StudentID string    `json:"student_id"`
	DueAt     time.Time `json:"due_at"`
}

// UploadRequest is the body of POST /v1/uploads.
type UploadRequest struct {
	CourseID     string `json:"course_id"`
	AssignmentID string `json:"assignment_id"`
	StudentID    string `json:"student_id"`
	Filename     string `json:"filename"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
}

// UploadResponse is the answer to POST /v1/uploads: PUT the bytes to
// UploadURL with every header in Headers.
type UploadResponse struct {
	UploadURL string            `json:"upload_url"`
	ObjectKey string            `json:"object_key"`
	ExpiresAt time.Time         `json:"expires_at"`
	Headers   map[string]string `json:"headers"`
	Method    string            `json:"method"`
}

// SubmitRequest is the body of POST /v1/submissions.
type SubmitRequest struct {
	CourseID          string     `json:"course_id"`
	AssignmentID      string     `json:"assignment_id"`
	StudentID         string     `json:"student_id"`
	ObjectKey         string     `json:"object_key"`
	Size              int64      `json:"size"`
	SHA256            string     `json:"sha256"`
	ContentType       string     `json:"content_type"`
	ClientSubmittedAt *time.Time `json:"client_submitted_at,omitempty"`
}

// SubmitResponse is the 202 answer to POST /v1/submissions.
type SubmitResponse struct {
	ReceiptID   string    `json:"receipt_id"`
	State       string    `json:"state"`
	AcceptedAt  time.Time `json:"accepted_at"`
	StatusURL   string    `json:"status_url"`
	Late        bool      `json:"late"`
	SecondsLate int64     `json:"seconds_late"`
	Receipt     *Receipt  `json:"receipt"`
}

// SubmissionStatus is where one submission stands: the answer to GET
// /v1/submissions/{receipt_id} and an item of an assignment's list. A
// queued submission carries only ReceiptID, State and Attempt (0).
type SubmissionStatus struct {
	ReceiptID   string     `json:"receipt_id"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	Late        *bool      `json:"late,omitempty"`
	SecondsLate *int64     `json:"seconds_late,omitempty"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
	// NextAttemptAt is when a retrying submission is tried again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// Error says why processing failed, when retrying or dead-lettered.
	Error *ProcessingError `json:"error,omitempty"`

	CourseID     string `json:"course_id,omitempty"`
	AssignmentID string `json:"assignment_id,omitempty"`
	StudentID    string `json:"student_id,omitempty"`
	ObjectKey    string `json:"object_key,omitempty"`
	Size         int64  `json:"size,omitempty"`
	SHA256       string `json:"sha256,omitempty"`
	ContentType  string `json:"content_type,omitempty"`
	// Conflicts lists later uses of this receipt's idempotency key with a
	// different payload: reported, never merged into this submission.
	Conflicts []ConflictStatus `json:"conflicts,omitempty"`
}

// ProcessingError is why the last processing attempt failed.
type ProcessingError struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

// ConflictStatus is one reuse of an idempotency key with another payload.
type ConflictStatus struct {
	EventID    string    `json:"event_id"`
	DetectedAt time.Time `json:"detected_at"`
}

// SubmissionList is one page of GET /v1/assignments/{assignment_id}/submissions.
type SubmissionList struct {
	Items      []SubmissionStatus `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
	Counts     SubmissionCounts   `json:"counts"`
}

// SubmissionCounts are counts over a whole assignment.
type SubmissionCounts struct {
	Processed    int64 `json:"processed"`
	Students     int64 `json:"students"`
	Late         int64 `json:"late"`
	Retrying     int64 `json:"retrying"`
	DeadLettered int64 `json:"dead_lettered"`
}
