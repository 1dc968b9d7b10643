package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

func statusOfRecord(s *pgstore.SubmissionRecord) schema.SubmissionStatus {
	acc, proc := s.AcceptedAt.UTC(), s.ProcessedAt.UTC()
	late, secs := s.Late, s.SecondsLate
	return schema.SubmissionStatus{
		ReceiptID: s.ReceiptID, State: schema.StateProcessed, Attempt: s.Attempt, AcceptedAt: &acc,
		Late: &late, SecondsLate: &secs, ProcessedAt: &proc,
		CourseID: s.CourseID, AssignmentID: s.AssignmentID, StudentID: s.StudentID,
		ObjectKey: s.ObjectKey, Size: s.Size, SHA256: s.SHA256, ContentType: s.ContentType,
	}
}

// handleStatus answers where a receipt stands. A receipt no consumer has
// recorded yet is "queued": the API keeps no record of acceptances (the
// accept path never touches the database), so an unknown but well-formed
// receipt id is queued too; `turnin audit` is what proves a window complete.
func (s *Server) handleStatus(c echo.Context) error {
	id, err := receiptParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	rec, conflicts, err := pgstore.GetSubmission(ctx, s.db, tenantOf(c), id)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		return s.failureStatus(c, ctx, id)
	case err != nil:
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not read the submission's state; retry", Err: err}
	}
	st := statusOfRecord(rec)
	for _, cf := range conflicts {
		st.Conflicts = append(st.Conflicts, schema.ConflictStatus{EventID: cf.EventID, DetectedAt: cf.DetectedAt.UTC()})
	}
	return c.JSON(http.StatusOK, &st)
}

// Limits of the list endpoint.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// handleList pages through an assignment's processed submissions in accept
// order, with counts over the whole assignment.
func (s *Server) handleList(c echo.Context) error {
	a, err := s.assignmentParam(c)
	if err != nil {
		return err
	}
	tenant, assignment := tenantOf(c), a.AssignmentID
	q := pgstore.ListQuery{Tenant: tenant, Assignment: assignment, Limit: DefaultListLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return schema.FieldError(schema.CodeInvalidField, "limit", "limit must be an integer from 1 to 1000")
		}
		q.Limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		cur, err := decodeCursor(v)
		if err != nil {
			return schema.FieldError(schema.CodeInvalidField, "cursor", "cursor is not one this API issued")
		}
		q.After = cur
	}
	if v := c.QueryParam("latest"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return schema.FieldError(schema.CodeInvalidField, "latest", "latest must be true or false")
		}
		q.Latest = b
	}
	if v := c.QueryParam("student_id"); v != "" {
		if err := schema.ValidateID(v); err != nil {
			return schema.FieldError(schema.CodeInvalidField, "student_id", "student_id: "+err.Error())
		}
		q.Student = v
	}
	for _, w := range []struct {
		name string
		to   **time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := c.QueryParam(w.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return schema.FieldError(schema.CodeInvalidField, w.name, w.name+" must be an RFC 3339 time")
			}
			*w.to = &t
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	// One more than the page, to know whether there is a next one.
	q.Limit++
	rows, err := pgstore.ListSubmissions(ctx, s.db, q)
	if err != nil {
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not list submissions; retry", Err: err}
	}
	counts, err := pgstore.AssignmentCounts(ctx, s.db, tenant, assignment)
	if err != nil {
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not count submissions; retry", Err: err}
	}
	out := schema.SubmissionList{Items: []schema.SubmissionStatus{}, Counts: schema.SubmissionCounts{Processed: counts.Submissions, Students: counts.Students, Late: counts.Late,
		Retrying: counts.Retrying, DeadLettered: counts.DeadLettered}}
	for i := range rows {
		if i == q.Limit-1 {
			last := rows[i-1]
			out.NextCursor = encodeCursor(pgstore.Cursor{AcceptedAt: last.AcceptedAt, ReceiptID: last.ReceiptID})
			break
		}
		out.Items = append(out.Items, statusOfRecord(&rows[i]))
	}
	return c.JSON(http.StatusOK, &out)
}

func encodeCursor(c pgstore.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.AcceptedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ReceiptID))
}

func decodeCursor(s string) (*pgstore.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok || !schema.ValidReceiptID(id) {
		return nil, errors.New("bad cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, err
	}
	return &pgstore.Cursor{AcceptedAt: t, ReceiptID: id}, nil
}

// failureStatus answers for a receipt no consumer has recorded: retrying
// or dead-lettered when the dead-letter index knows it, queued otherwise.
func (s *Server) failureStatus(c echo.Context, ctx context.Context, id string) error {
	f, err := pgstore.LatestFailure(ctx, s.db, tenantOf(c), id)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		return c.JSON(http.StatusOK, &schema.SubmissionStatus{ReceiptID: id, State: schema.StateQueued})
	case err != nil:
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not read the submission's state; retry", Err: err}
	}
	st := &schema.SubmissionStatus{ReceiptID: id, State: f.State, Attempt: f.Attempt,
		AssignmentID: f.AssignmentID, StudentID: f.StudentID,
		Error: &schema.ProcessingError{Class: f.ErrorClass, Message: f.ErrorMsg}}
	if f.NextAttemptAt != nil {
		t := f.NextAttemptAt.UTC()
		st.NextAttemptAt = &t
	}
	return c.JSON(http.StatusOK, st)
}
