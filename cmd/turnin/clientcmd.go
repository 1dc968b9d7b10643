package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"

	"github.com/turnin-dev/turnin/api/client"
)

type clientOpts struct{ url, key string }

func (o *clientOpts) register(f *flags) {
	f.String(&o.url, "url", "TURNIN_URL", "http://127.0.0.1:8080", "turnin API base URL")
	f.String(&o.key, "api-key", "TURNIN_API_KEY", "", "tenant API key")
}

func (o *clientOpts) client() (*client.Client, error) {
	if o.key == "" {
		return nil, errors.New("an API key is required: set TURNIN_API_KEY (turnin dev prints one)")
	}
	return client.New(o.url, o.key), nil
}

func runAssignment(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "put" {
		return errors.New("usage: turnin assignment put --assignment ID --course ID --due TIME [--cutoff TIME]")
	}
	f := newFlags("assignment put", "Creates or replaces an assignment (PUT /v1/assignments/{id}).")
	var co clientOpts
	var id, course, due, cutoff string
	co.register(f)
	f.String(&id, "assignment", "TURNIN_ASSIGNMENT", "", "assignment id")
	f.String(&course, "course", "TURNIN_COURSE", "", "course id")
	f.String(&due, "due", "TURNIN_DUE", "", "due time, RFC 3339 (e.g. 2026-12-01T23:59:00Z)")
	f.String(&cutoff, "cutoff", "TURNIN_CUTOFF", "", "hard cut-off, RFC 3339 (optional)")
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	a := client.Assignment{CourseID: course}
	if a.DueAt, err = time.Parse(time.RFC3339, due); err != nil {
		return fmt.Errorf("--due: %w", err)
	}
	if cutoff != "" {
		t, err := time.Parse(time.RFC3339, cutoff)
		if err != nil {
			return fmt.Errorf("--cutoff: %w", err)
		}
		a.CutoffAt = &t
	}
	if err := c.PutAssignment(ctx, id, a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "assignment %s (course %s) due %s\n", id, course, a.DueAt.UTC().Format(time.RFC3339))
	return nil
}

func runSubmit(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("submit", "Uploads a file straight to object storage through a presigned URL, then submits it.\nTemporary refusals (503) are retried with the same idempotency key, so a retry\nnever makes a second submission. Prints the receipt as JSON.")
	var co clientOpts
	var course, assignment, student, file, key, contentType string
	var timeout time.Duration
	co.register(f)
	f.String(&course, "course", "TURNIN_COURSE", "", "course id")
	f.String(&assignment, "assignment", "TURNIN_ASSIGNMENT", "", "assignment id")
	f.String(&student, "student", "TURNIN_STUDENT", "", "student id")
	f.String(&file, "file", "TURNIN_FILE", "", "file to submit")
	f.String(&contentType, "content-type", "TURNIN_CONTENT_TYPE", "", "media type (default: from the file name)")
	f.String(&key, "idempotency-key", "TURNIN_IDEMPOTENCY_KEY", "", "idempotency key (default: a new random one; reuse one to retry an attempt)")
	f.Duration(&timeout, "timeout", "TURNIN_SUBMIT_TIMEOUT", 2*time.Minute, "give up retrying after this long")
	if err := f.Parse(args); err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if contentType == "" {
		if contentType = mime.TypeByExtension(filepath.Ext(file)); contentType == "" {
			contentType = "application/octet-stream"
		}
	}
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key = hex.EncodeToString(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := c.SubmitFile(ctx, key, client.UploadRequest{
		CourseID: course, AssignmentID: assignment, StudentID: student,
		Filename: filepath.Base(file), ContentType: contentType,
	}, body)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rc)
}

func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("status", "Prints where a receipt stands: queued, processed, retrying or dead_lettered.")
	var co clientOpts
	co.register(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return errors.New("usage: turnin status RECEIPT_ID")
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, f.fs.Arg(0))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}
