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

// The wire types are schema's, shared with the server; these names keep
// call sites short.
type (
	Assignment    = schema.AssignmentSpec
	Extension     = schema.Extension
	UploadRequest = schema.UploadRequest
	Upload        = schema.UploadResponse
	SubmitRequest = schema.SubmitRequest
	Receipt       = schema.SubmitResponse
	Status        = schema.SubmissionStatus
	List          = schema.SubmissionList
)

// Temporary reports whether resending the same request may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
}

// PutAssignment creates or replaces an assignment.
func (c *Client) PutAssignment(ctx context.Context, id string, a Assignment) error {
	return c.do(ctx, http.MethodPut, "/v1/assignments/"+id, nil, a, nil)
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
		var eb schema.ErrorBody
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

// Status reads where a receipt stands.
func (c *Client) Status(ctx context.Context, receiptID string) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "/v1/submissions/"+receiptID, nil, nil, &out)
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
