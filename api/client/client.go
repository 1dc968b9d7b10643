// Package client is the Go client of turnin's HTTP API, for LMS backends,
// the turnin CLI, load generators and tests. It uploads a file the way the
// API intends — presigned PUT straight to object storage — and submits it
// with an idempotency key that it resends unchanged on every retry.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/turnin-dev/turnin/schema"
)

// Client talks to one turnin API as one tenant.
type Client struct {
	// BaseURL is the API's base, e.g. http://127.0.0.1:8080.
	BaseURL string
	// APIKey is the tenant's key.
	APIKey string
	// HTTP is the client used for every request. Defaults to one with a 30s timeout.
	HTTP *http.Client
}

// New returns a client for baseURL and apiKey.
func New(baseURL, apiKey string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answer from the API.
type Error struct {
	Status     int
	Code       schema.Code
	Message    string
	Field      string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("turnin: %d %s: %s", e.Status, e.Code, e.Message)
}

// Temporary reports whether resending the same request may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
}

// Assignment is the body of PUT /v1/assignments/{id}.
type Assignment struct {
	CourseID   string      `json:"course_id"`
	DueAt      time.Time   `json:"due_at"`
	CutoffAt   *time.Time  `json:"cutoff_at,omitempty"`
	Extensions []Extension `json:"extensions,omitempty"`
}

// Extension is one student's own deadline.
type Extension struct {
	StudentID string    `json:"student_id"`
	DueAt     time.Time `json:"due_at"`
}

// PutAssignment creates or replaces an assignment.
func (c *Client) PutAssignment(ctx context.Context, id string, a Assignment) error {
	return c.do(ctx, http.MethodPut, "/v1/assignments/"+id, nil, a, nil)
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

// Upload is the answer to POST /v1/uploads.
type Upload struct {
	UploadURL string            `json:"upload_url"`
	ObjectKey string            `json:"object_key"`
	ExpiresAt time.Time         `json:"expires_at"`
	Headers   map[string]string `json:"headers"`
}

// RequestUpload asks for a presigned upload URL.
func (c *Client) RequestUpload(ctx context.Context, r UploadRequest) (*Upload, error) {
	var out Upload
	return &out, c.do(ctx, http.MethodPost, "/v1/uploads", nil, r, &out)
}

// PutObject uploads body to a presigned URL with the headers it requires.
func (c *Client) PutObject(ctx context.Context, u *Upload, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.UploadURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("turnin: object store refused the upload: %d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
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

// Receipt is the 202 answer to POST /v1/submissions.
type Receipt struct {
	ReceiptID   string          `json:"receipt_id"`
	State       string          `json:"state"`
	AcceptedAt  time.Time       `json:"accepted_at"`
	StatusURL   string          `json:"status_url"`
	Late        bool            `json:"late"`
	SecondsLate int64           `json:"seconds_late"`
	Receipt     *schema.Receipt `json:"receipt"`
}

// Submit posts a submission once with idempotencyKey.
func (c *Client) Submit(ctx context.Context, idempotencyKey string, r SubmitRequest) (*Receipt, error) {
	var out Receipt
	h := http.Header{"Idempotency-Key": []string{idempotencyKey}}
	return &out, c.do(ctx, http.MethodPost, "/v1/submissions", h, r, &out)
}

// SubmitFile uploads body and submits it, retrying a temporary failure
// (503, 429, a network error) with the same idempotency key — the way a
// browser should — until ctx ends.
func (c *Client) SubmitFile(ctx context.Context, idempotencyKey string, r UploadRequest, body []byte) (*Receipt, error) {
	sum := sha256.Sum256(body)
	r.Size, r.SHA256 = int64(len(body)), hex.EncodeToString(sum[:])
	up, err := c.RequestUpload(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := c.PutObject(ctx, up, body); err != nil {
		return nil, err
	}
	req := SubmitRequest{CourseID: r.CourseID, AssignmentID: r.AssignmentID, StudentID: r.StudentID,
		ObjectKey: up.ObjectKey, Size: r.Size, SHA256: r.SHA256, ContentType: r.ContentType}
	backoff := 200 * time.Millisecond
	for {
		rc, err := c.Submit(ctx, idempotencyKey, req)
		var ae *Error
		if err == nil || (errors.As(err, &ae) && !ae.Temporary()) {
			return rc, err
		}
		wait := backoff
		if ae != nil && ae.RetryAfter > 0 {
			wait = ae.RetryAfter
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Client) do(ctx context.Context, method, path string, h http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct {
				Code    schema.Code `json:"code"`
				Message string      `json:"message"`
				Field   string      `json:"field"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &eb)
		e := &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Status is where a receipt stands (GET /v1/submissions/{receipt_id}).
type Status struct {
	ReceiptID    string     `json:"receipt_id"`
	State        string     `json:"state"`
	Attempt      int        `json:"attempt"`
	AcceptedAt   *time.Time `json:"accepted_at,omitempty"`
	Late         *bool      `json:"late,omitempty"`
	SecondsLate  *int64     `json:"seconds_late,omitempty"`
	ProcessedAt  *time.Time `json:"processed_at,omitempty"`
	CourseID     string     `json:"course_id,omitempty"`
	AssignmentID string     `json:"assignment_id,omitempty"`
	StudentID    string     `json:"student_id,omitempty"`
	ObjectKey    string     `json:"object_key,omitempty"`
	Size         int64      `json:"size,omitempty"`
	SHA256       string     `json:"sha256,omitempty"`
	ContentType  string     `json:"content_type,omitempty"`
	Conflicts    []struct {
		EventID    string    `json:"event_id"`
		DetectedAt time.Time `json:"detected_at"`
	} `json:"conflicts,omitempty"`
}

// Status reads where a receipt stands.
func (c *Client) Status(ctx context.Context, receiptID string) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "/v1/submissions/"+receiptID, nil, nil, &out)
}

// List is one page of an assignment's submissions.
type List struct {
	Items      []Status `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
	Counts     struct {
		Processed int64 `json:"processed"`
		Students  int64 `json:"students"`
		Late      int64 `json:"late"`
	} `json:"counts"`
}

// ListSubmissions reads one page of an assignment's submissions; pass the
// previous page's NextCursor as cursor ("" for the first page).
func (c *Client) ListSubmissions(ctx context.Context, assignmentID, cursor string, limit int, latest bool) (*List, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if latest {
		q.Set("latest", "true")
	}
	var out List
	return &out, c.do(ctx, http.MethodGet, "/v1/assignments/"+assignmentID+"/submissions?"+q.Encode(), nil, nil, &out)
}
