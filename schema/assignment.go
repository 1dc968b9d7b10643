package schema

import "time"

// Assignment is what lateness and cut-offs are judged against.
type Assignment struct {
	TenantID     string
	AssignmentID string
	CourseID     string
	// DueAt is the deadline; a submission accepted after it is late.
	DueAt time.Time
	// CutoffAt, when set, is the hard cut-off after which submissions are
	// refused. It is never before DueAt.
	CutoffAt *time.Time
	// Extensions maps a student id to that student's own deadline.
	Extensions map[string]time.Time
}

// DueFor returns the student's deadline: their extension if they have one,
// else the assignment's.
func (a *Assignment) DueFor(student string) time.Time {
	if d, ok := a.Extensions[student]; ok {
		return d
	}
	return a.DueAt
}

// CutoffFor returns the student's hard cut-off, if any. An extension past
// the cut-off moves the cut-off with it: an extension is a promise.
func (a *Assignment) CutoffFor(student string) (time.Time, bool) {
	if a.CutoffAt == nil {
		return time.Time{}, false
	}
	c := *a.CutoffAt
	if d, ok := a.Extensions[student]; ok && d.After(c) {
		c = d
	}
	return c, true
}

// Closed reports whether a submission by student accepted at t is past the
// hard cut-off.
func (a *Assignment) Closed(student string, t time.Time) bool {
	c, ok := a.CutoffFor(student)
	return ok && t.After(c)
}

// Lateness judges a submission accepted at acceptedAt — the server's
// accept time, never the time a consumer got to it. A submission exactly at
// the deadline is on time; seconds late are rounded up, so one nanosecond
// late is one second late.
func (a *Assignment) Lateness(student string, acceptedAt time.Time) (late bool, secondsLate int64) {
	d := acceptedAt.Sub(a.DueFor(student))
	if d <= 0 {
		return false, 0
	}
	return true, int64((d + time.Second - 1) / time.Second)
}
