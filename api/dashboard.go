package api

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/redrive"
	"github.com/turnin-dev/turnin/schema"
)

// The instructors' dashboard: server-rendered pages under DashboardPath
// with embedded assets and a little script that polls the read endpoints.
// Pages are not part of the JSON contract in schema/openapi.yaml; the
// JSON they read is.

// DashboardPath is where the dashboard's pages are served.
const DashboardPath = "/dashboard"

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

type pages struct{ byName map[string]*template.Template }

var pageFuncs = template.FuncMap{
	"utc": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04:05")
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02 15:04:05")
			}
		}
		return ""
	},
	"rfc":  func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"wait": waitText,
}

func waitText(s float64) string {
	switch {
	case s < 1:
		return "under 1 s"
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 7200:
		return fmt.Sprintf("%.0f min", s/60)
	}
	return fmt.Sprintf("%.1f h", s/3600)
}

func loadPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"signin", "home", "assignment", "submission", "redrive", "window", "granted", "verify", "error"} {
		t, err := template.New(name).Funcs(pageFuncs).ParseFS(templateFS, "web/templates/layout.html", "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("api: dashboard template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// page is what every template gets; Data holds the page's own fields.
type page struct {
	Title, Flash, Error string
	Session             *session
}

func (s *Server) render(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return &schema.Error{Code: schema.CodeInternal, Message: "internal error", Err: err}
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	return c.HTMLBlob(status, buf.Bytes())
}

// dashError renders an error as a page, for people rather than programs.
func (s *Server) dashError(c echo.Context, status int, msg string) error {
	ss, _ := c.Get(sessionKey).(*session)
	return s.render(c, status, "error", &page{Title: http.StatusText(status), Error: msg, Session: ss})
}

// dashFail turns a read failure into a page; a 503 says to retry.
func (s *Server) dashFail(c echo.Context, err error) error {
	var se *schema.Error
	if errors.As(err, &se) && statusOf[se.Code] < 500 {
		return s.dashError(c, statusOf[se.Code], se.Message)
	}
	s.log.Error("dashboard page failed", "path", c.Path(), "err", err, "request_id", requestID(c))
	return s.dashError(c, http.StatusServiceUnavailable, "The database could not be read just now. Reload the page in a moment.")
}

func (s *Server) dashboardRoutes(e *echo.Echo) {
	static, _ := fs.Sub(staticFS, "web/static")
	e.GET(DashboardPath+"/static/*", echo.WrapHandler(http.StripPrefix(DashboardPath+"/static/", http.FileServer(http.FS(static)))))
	e.GET(DashboardPath+"/signin", s.pageSignin)
	e.POST(DashboardPath+"/signin", s.postSignin)
	g := s.requireSession
	e.POST(DashboardPath+"/signout", s.postSignout, g)
	e.GET(DashboardPath, s.pageHome, g)
	e.GET(DashboardPath+"/assignments/:assignment_id", s.pageAssignment, g)
	e.GET(DashboardPath+"/assignments/:assignment_id/window", s.pageWindow, g)
	e.POST(DashboardPath+"/assignments/:assignment_id/extensions", s.postExtensions, g)
	e.GET(DashboardPath+"/submissions/:receipt_id", s.pageSubmission, g)
	e.GET(DashboardPath+"/submissions/:receipt_id/redrive", s.pageRedrivePreview, g)
	e.POST(DashboardPath+"/submissions/:receipt_id/redrive", s.postRedrive, g)
	e.GET(DashboardPath+"/verify", s.pageVerify, g)
	e.POST(DashboardPath+"/verify", s.postVerify, g)
}

// IsDashboardPage reports whether a route is one of the dashboard's HTML
// pages (or its assets), which the OpenAPI document does not describe.
func IsDashboardPage(path string) bool {
	return path == DashboardPath || strings.HasPrefix(path, DashboardPath+"/")
}

type signinPage struct {
	page
	Next, Name string
}

// safeNext keeps a post-sign-in redirect on the dashboard.
func safeNext(n string) string {
	if !strings.HasPrefix(n, DashboardPath) || strings.HasPrefix(n, "//") || strings.Contains(n, "\\") {
		return DashboardPath
	}
	return n
}

func (s *Server) pageSignin(c echo.Context) error {
	return s.render(c, http.StatusOK, "signin", &signinPage{page: page{Title: "Sign in"}, Next: safeNext(c.QueryParam("next"))})
}

func (s *Server) postSignin(c echo.Context) error {
	p := &signinPage{page: page{Title: "Sign in"}, Next: safeNext(c.FormValue("next")), Name: strings.TrimSpace(c.FormValue("name"))}
	switch {
	case !s.sameOrigin(c.Request()):
		return s.dashError(c, http.StatusForbidden, "This form came from another site.")
	case p.Name == "" || len(p.Name) > 100 || strings.ContainsAny(p.Name, "\r\n\t"):
		p.Error = "Give your name (up to 100 characters): it is recorded on what you do."
		return s.render(c, http.StatusBadRequest, "signin", p)
	case !s.snap.loaded():
		p.Error = "API keys are not loaded yet; try again in a moment."
		return s.render(c, http.StatusServiceUnavailable, "signin", p)
	case !s.newSession(c, c.FormValue("api_key"), p.Name):
		p.Error = "That API key is unknown or revoked."
		return s.render(c, http.StatusUnauthorized, "signin", p)
	}
	return c.Redirect(http.StatusSeeOther, p.Next)
}

func (s *Server) postSignout(c echo.Context) error {
	s.endSession(c)
	return c.Redirect(http.StatusSeeOther, DashboardPath+"/signin")
}

func (s *Server) basePage(c echo.Context, title string) page {
	return page{Title: title, Session: sessionFrom(c), Flash: c.QueryParam("flash")}
}

func (s *Server) pageHome(c echo.Context) error {
	tenant := tenantOf(c)
	var as []*schema.Assignment
	if m := s.snap.assignments.Load(); m != nil {
		for k, a := range *m {
			if k.Tenant == tenant {
				as = append(as, a)
			}
		}
	}
	sort.Slice(as, func(i, j int) bool { return as[i].DueAt.After(as[j].DueAt) })
	return s.render(c, http.StatusOK, "home", &struct {
		page
		Assignments []*schema.Assignment
	}{s.basePage(c, "Assignments"), as})
}

const dashPageSize = 50

func (s *Server) pageAssignment(c echo.Context) error {
	tenant := tenantOf(c)
	a := s.snap.assignment(tenant, c.Param("assignment_id"))
	if a == nil {
		return s.dashError(c, http.StatusNotFound, "No such assignment for this tenant.")
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if schema.ValidReceiptID(q) {
		return c.Redirect(http.StatusSeeOther, DashboardPath+"/submissions/"+q)
	}
	lq := pgstore.ListQuery{Tenant: tenant, Assignment: a.AssignmentID, Limit: dashPageSize + 1, Latest: c.QueryParam("latest") == "true"}
	p := &struct {
		page
		A         *schema.Assignment
		O         *schema.AssignmentOverview
		DL        *schema.DeadLetterList
		Items     []pgstore.SubmissionRecord
		Q, Cursor string
		Next      string
		Latest    bool
	}{page: s.basePage(c, "Assignment "+a.AssignmentID), A: a, Q: q, Latest: lq.Latest, Cursor: c.QueryParam("cursor")}
	if q != "" {
		if err := schema.ValidateID(q); err != nil {
			p.Error = "Search for a student id or a receipt id (rcpt_…): " + err.Error()
			q, p.Q = "", ""
		}
		lq.Student = q
	}
	if p.Cursor != "" {
		cur, err := decodeCursor(p.Cursor)
		if err != nil {
			return s.dashError(c, http.StatusBadRequest, "That page link is not one this dashboard made.")
		}
		lq.After = cur
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	var err error
	if p.O, err = s.overview(ctx, tenant, a); err != nil {
		return s.dashFail(c, err)
	}
	if p.DL, err = s.deadLetters(ctx, tenant, a.AssignmentID); err != nil {
		return s.dashFail(c, err)
	}
	if p.Items, err = pgstore.ListSubmissions(ctx, s.db, lq); err != nil {
		return s.dashFail(c, err)
	}
	if len(p.Items) > dashPageSize {
		p.Items = p.Items[:dashPageSize]
		last := p.Items[dashPageSize-1]
		p.Next = encodeCursor(pgstore.Cursor{AcceptedAt: last.AcceptedAt, ReceiptID: last.ReceiptID})
	}
	return s.render(c, http.StatusOK, "assignment", p)
}

func (s *Server) pageSubmission(c echo.Context) error {
	id := c.Param("receipt_id")
	if !schema.ValidReceiptID(id) {
		return s.dashError(c, http.StatusBadRequest, "That is not a receipt id (rcpt_ and 32 characters).")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	tl, err := s.timeline(ctx, tenantOf(c), id)
	if err != nil {
		return s.dashFail(c, err)
	}
	return s.render(c, http.StatusOK, "submission", &struct {
		page
		T *schema.Timeline
	}{s.basePage(c, "Submission "+id), tl})
}

func (s *Server) redriveConfig(c echo.Context, id string, dry bool) redrive.Config {
	return redrive.Config{Filter: pgstore.FailureFilter{Tenant: tenantOf(c), ReceiptIDs: []string{id}},
		Target: redrive.TargetMain, Topic: s.topic, DryRun: dry, By: sessionFrom(c).actor()}
}

func (s *Server) pageRedrivePreview(c echo.Context) error {
	id := c.Param("receipt_id")
	if !schema.ValidReceiptID(id) {
		return s.dashError(c, http.StatusBadRequest, "That is not a receipt id.")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	res, err := redrive.Run(ctx, s.redriveConfig(c, id, true), s.producer, s.db)
	if err != nil {
		return s.dashFail(c, err)
	}
	return s.render(c, http.StatusOK, "redrive", &struct {
		page
		ReceiptID, Topic, Actor string
		Selected                []pgstore.Failure
	}{s.basePage(c, "Redrive "+id+"?"), id, s.topic, sessionFrom(c).actor(), res.Selected})
}

func (s *Server) postRedrive(c echo.Context) error {
	id := c.Param("receipt_id")
	if !schema.ValidReceiptID(id) {
		return s.dashError(c, http.StatusBadRequest, "That is not a receipt id.")
	}
	if c.FormValue("confirm") != "yes" {
		return s.dashError(c, http.StatusBadRequest, "Tick the confirmation box to redrive.")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ProduceTimeout+10*time.Second)
	defer cancel()
	res, err := redrive.Run(ctx, s.redriveConfig(c, id, false), s.producer, s.db)
	if err != nil {
		s.log.Error("dashboard redrive failed", "receipt_id", id, "err", err, "by", sessionFrom(c).actor())
		return s.dashError(c, http.StatusServiceUnavailable, "The redrive did not finish: "+err.Error()+". Nothing was lost; run it again.")
	}
	s.counts.clear() // the receipt's assignment is not known here
	s.log.Info("dashboard redrive", "receipt_id", id, "redrive_id", res.ID, "moved", res.Moved, "by", sessionFrom(c).actor())
	flash := fmt.Sprintf("Redrive %d moved %d record(s) back to processing.", res.ID, res.Moved)
	if res.Moved == 0 {
		flash = "Nothing to redrive: it was redriven already."
	}
	return c.Redirect(http.StatusSeeOther, DashboardPath+"/submissions/"+id+"?flash="+url.QueryEscape(flash))
}

// parseUTC reads a datetime-local field (or RFC 3339) as UTC.
func parseUTC(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time like 2026-05-01T23:59", v)
}

// MaxWindowRows bounds the who-submitted list.
const MaxWindowRows = 5000

func (s *Server) pageWindow(c echo.Context) error {
	tenant := tenantOf(c)
	a := s.snap.assignment(tenant, c.Param("assignment_id"))
	if a == nil {
		return s.dashError(c, http.StatusNotFound, "No such assignment for this tenant.")
	}
	since, err1 := parseUTC(c.QueryParam("since"))
	until, err2 := parseUTC(c.QueryParam("until"))
	if err := errors.Join(err1, err2); err != nil || !since.Before(until) {
		return s.dashError(c, http.StatusBadRequest, "Give a window with a start before its end (UTC).")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	rows, err := pgstore.ListSubmissions(ctx, s.db, pgstore.ListQuery{Tenant: tenant, Assignment: a.AssignmentID,
		Since: &since, Until: &until, Limit: MaxWindowRows + 1})
	if err != nil {
		return s.dashFail(c, err)
	}
	p := &struct {
		page
		A            *schema.Assignment
		Since, Until time.Time
		Items        []pgstore.SubmissionRecord
		Students     []string
		Truncated    bool
	}{page: s.basePage(c, "Who submitted to "+a.AssignmentID), A: a, Since: since, Until: until, Items: rows}
	if len(rows) > MaxWindowRows {
		p.Items, p.Truncated = rows[:MaxWindowRows], true
	}
	seen := map[string]bool{}
	for _, r := range p.Items {
		if !seen[r.StudentID] {
			seen[r.StudentID] = true
			p.Students = append(p.Students, r.StudentID)
		}
	}
	sort.Strings(p.Students)
	return s.render(c, http.StatusOK, "window", p)
}

// MaxGrantStudents bounds one bulk extension.
const MaxGrantStudents = 10000

func (s *Server) postExtensions(c echo.Context) error {
	tenant := tenantOf(c)
	a := s.snap.assignment(tenant, c.Param("assignment_id"))
	if a == nil {
		return s.dashError(c, http.StatusNotFound, "No such assignment for this tenant.")
	}
	form, err := c.FormParams()
	if err != nil {
		return s.dashError(c, http.StatusBadRequest, "Could not read the form.")
	}
	due, err := parseUTC(form.Get("due_at"))
	if err != nil {
		return s.dashError(c, http.StatusBadRequest, "New deadline: "+err.Error()+".")
	}
	set := map[string]bool{}
	for _, st := range append(form["student"], strings.Fields(form.Get("more"))...) {
		if err := schema.ValidateID(st); err != nil {
			return s.dashError(c, http.StatusBadRequest, fmt.Sprintf("Student %q: %v.", st, err))
		}
		set[st] = true
	}
	if len(set) == 0 || len(set) > MaxGrantStudents {
		return s.dashError(c, http.StatusBadRequest, fmt.Sprintf("Choose from 1 to %d students.", MaxGrantStudents))
	}
	students := make([]string, 0, len(set))
	for st := range set {
		students = append(students, st)
	}
	sort.Strings(students)
	actor := sessionFrom(c).actor()
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	res, err := pgstore.GrantExtensions(ctx, s.db, pgstore.Grant{Tenant: tenant, Assignment: a.AssignmentID,
		Students: students, DueAt: due, By: actor})
	if err != nil {
		return s.dashFail(c, err)
	}
	s.counts.forget(pgstore.AssignmentKey{Tenant: tenant, Assignment: a.AssignmentID})
	// This instance judges by the grant at once; others within a refresh.
	next := *a
	next.Extensions = maps.Clone(a.Extensions)
	if next.Extensions == nil {
		next.Extensions = map[string]time.Time{}
	}
	for _, st := range students {
		next.Extensions[st] = due
	}
	s.snap.putAssignment(&next)
	s.log.Info("dashboard extension", "assignment_id", a.AssignmentID, "students", len(students), "due_at", due,
		"rejudged", res.Rejudged, "grant_id", res.ID, "by", actor)
	return s.render(c, http.StatusOK, "granted", &struct {
		page
		A        *schema.Assignment
		Students []string
		DueAt    time.Time
		R        *pgstore.GrantResult
		Actor    string
	}{s.basePage(c, "Extension granted"), &next, students, due, res, actor})
}

type verifyPage struct {
	page
	Pasted string
	V      *schema.ReceiptVerification
}

func (s *Server) pageVerify(c echo.Context) error {
	return s.render(c, http.StatusOK, "verify", &verifyPage{page: s.basePage(c, "Verify a receipt")})
}

func (s *Server) postVerify(c echo.Context) error {
	p := &verifyPage{page: s.basePage(c, "Verify a receipt"), Pasted: c.FormValue("receipt")}
	// Either the receipt itself or the whole 202 answer holding it.
	var wrapped struct {
		Receipt *schema.Receipt `json:"receipt"`
	}
	var r schema.Receipt
	b := []byte(p.Pasted)
	switch {
	case len(b) > int(s.cfg.MaxBodyBytes):
		p.Error = "That is longer than any receipt."
	case json.Unmarshal(b, &wrapped) == nil && wrapped.Receipt != nil:
		p.V = s.verifyReceipt(tenantOf(c), wrapped.Receipt)
	case json.Unmarshal(b, &r) == nil && r.Signature != "":
		p.V = s.verifyReceipt(tenantOf(c), &r)
	default:
		p.Error = "That is not a receipt: paste the JSON object with receipt_id, accepted_at, key_id and signature."
	}
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusBadRequest
	}
	return s.render(c, status, "verify", p)
}
