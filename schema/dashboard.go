package schema

import "time"

// The read endpoints behind the instructors' dashboard. The dashboard's
// pages poll them with the signed-in session; LMS backends may call them
// with their API key like any other endpoint.

// AssignmentOverview is the answer to GET /v1/assignments/{assignment_id}/overview.
type AssignmentOverview struct {
	AssignmentID string           `json:"assignment_id"`
	CourseID     string           `json:"course_id"`
	DueAt        time.Time        `json:"due_at"`
	Counts       SubmissionCounts `json:"counts"`
	// Backlog is the main topic's backlog, shared by every assignment:
	// the log is not partitioned by assignment. Absent when the API cannot
	// measure it (no broker access, or the measurement failed).
	Backlog *BacklogStatus `json:"backlog,omitempty"`
}

// BacklogStatus is how far the consumers are behind, in records and in time.
type BacklogStatus struct {
	Topic string `json:"topic"`
	Group string `json:"group"`
	// Queued counts accepted submissions no consumer has processed yet.
	Queued int64 `json:"queued"`
	// OldestWaitSeconds is how long the oldest of them has waited.
	OldestWaitSeconds float64    `json:"oldest_wait_seconds"`
	OldestAcceptedAt  *time.Time `json:"oldest_accepted_at,omitempty"`
	MeasuredAt        time.Time  `json:"measured_at"`
}

// Timeline event kinds.
const (
	EventAccepted     = "accepted"
	EventRetrying     = "retrying"
	EventDeadLettered = "dead_lettered"
	EventRedriven     = "redriven"
	EventProcessed    = "processed"
)

// Timeline is the answer to GET /v1/submissions/{receipt_id}/timeline: what
// happened to one submission, oldest first.
type Timeline struct {
	ReceiptID    string          `json:"receipt_id"`
	State        string          `json:"state"`
	AssignmentID string          `json:"assignment_id,omitempty"`
	StudentID    string          `json:"student_id,omitempty"`
	Events       []TimelineEvent `json:"events"`
}

// TimelineEvent is one step of a Timeline.
type TimelineEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Attempt is the processing attempt that failed (retrying,
	// dead_lettered), counted from 1.
	Attempt int `json:"attempt,omitempty"`
	// Error says why an attempt failed (retrying, dead_lettered).
	Error *ProcessingError `json:"error,omitempty"`
	// By names who redrove it (redriven).
	By string `json:"by,omitempty"`
	// Detail is a human sentence: where the record went, what happens next.
	Detail string `json:"detail,omitempty"`
}

// DeadLetterList is the answer to GET /v1/assignments/{assignment_id}/dead-letters.
type DeadLetterList struct {
	Items []DeadLetter `json:"items"`
}

// DeadLetter is one parked submission not redriven yet.
type DeadLetter struct {
	ReceiptID     string          `json:"receipt_id"`
	StudentID     string          `json:"student_id"`
	Attempt       int             `json:"attempt"`
	Error         ProcessingError `json:"error"`
	LastFailureAt time.Time       `json:"last_failure_at"`
}

// ReceiptVerification is the answer to POST /v1/receipts/verify.
type ReceiptVerification struct {
	Valid     bool   `json:"valid"`
	ReceiptID string `json:"receipt_id"`
	// AcceptedAt is the receipt's accepted_at, meaningful when Valid.
	AcceptedAt time.Time `json:"accepted_at"`
	KeyID      string    `json:"key_id"`
	// Reason says why a receipt is not valid.
	Reason string `json:"reason,omitempty"`
}
