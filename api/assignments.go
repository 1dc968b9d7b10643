package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

func assignmentResponse(a *schema.Assignment) *schema.AssignmentSpec {
	out := &schema.AssignmentSpec{AssignmentID: a.AssignmentID, CourseID: a.CourseID, DueAt: a.DueAt.UTC(), Extensions: []schema.Extension{}}
	if a.CutoffAt != nil {
		c := a.CutoffAt.UTC()
		out.CutoffAt = &c
	}
	for s, d := range a.Extensions {
		out.Extensions = append(out.Extensions, schema.Extension{StudentID: s, DueAt: d.UTC()})
	}
	sort.Slice(out.Extensions, func(i, j int) bool { return out.Extensions[i].StudentID < out.Extensions[j].StudentID })
	return out
}

// handlePutAssignment creates or replaces an assignment: due time, optional
// hard cut-off and per-student extensions. This instance judges by it at
// once; other instances within one refresh interval. Submissions already
// processed are judged again against it in the same transaction.
func (s *Server) handlePutAssignment(c echo.Context) error {
	tenant := tenantOf(c)
	var body assignmentRequest
	// Extensions make this body larger than a submission's.
	if err := decodeJSON(c.Request(), s.cfg.MaxBodyBytes*16, s.cfg.MaxJSONDepth, &body); err != nil {
		return err
	}
	a, err := body.assignment(tenant, c.Param("assignment_id"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	r, err := pgstore.PutAssignment(ctx, s.db, a)
	if err != nil {
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not store the assignment; retry", Err: err}
	}
	s.counts.forget(pgstore.AssignmentKey{Tenant: tenant, Assignment: a.AssignmentID})
	if r.NoLongerLate+r.NowLate > 0 {
		s.log.Info("assignment changed: processed submissions judged again", "tenant", tenant, "assignment", a.AssignmentID,
			"rejudged", r.Rejudged, "no_longer_late", r.NoLongerLate, "now_late", r.NowLate)
	}
	s.snap.putAssignment(a)
	return c.JSON(http.StatusOK, assignmentResponse(a))
}

// handleGetAssignment returns the assignment as this instance judges by it.
func (s *Server) handleGetAssignment(c echo.Context) error {
	a, err := s.assignmentParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, assignmentResponse(a))
}
