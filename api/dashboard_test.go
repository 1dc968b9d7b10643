package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see where the dashboard sends them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), resp.Header
}

func (b *browser) signIn(key, name string) {
	b.t.Helper()
	code, body, hdr := b.do(http.MethodPost, "/dashboard/signin", url.Values{"api_key": {key}, "name": {name}, "next": {"/dashboard"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/dashboard" {
		b.t.Fatalf("sign in: %d %s", code, body)
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a dashboard page.
func (b *browser) csrf() string {
	b.t.Helper()
	_, body, _ := b.do(http.MethodGet, "/dashboard/verify", nil)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf token on the page:\n%s", body)
	}
	return m[1]
}

func getJSON[T any](t *testing.T, b *browser, path string) (int, *T) {
	t.Helper()
	code, body, _ := b.do(http.MethodGet, path, nil)
	var v T
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return code, &v
}

// deadLetter indexes a dead letter for the receipt's event as the dlq
// indexer would (the record's value byte for byte), and returns it.
func (h *harness) deadLetter(receiptID string) pgstore.Failure {
	h.t.Helper()
	for _, r := range h.records() {
		ev, err := schema.DecodeSubmission(r.Value)
		if err != nil || ev.ReceiptID != receiptID {
			continue
		}
		now := time.Now().UTC()
		f := pgstore.Failure{Topic: schema.DeadLetterTopic(h.kafka.Topic), Partition: 0, Offset: r.Offset,
			TenantID: ev.TenantID, ReceiptID: ev.ReceiptID, AssignmentID: ev.AssignmentID, StudentID: ev.StudentID,
			State: pgstore.FailureDeadLettered, ErrorClass: "object_missing", ErrorMsg: "no object under the key",
			Attempt: 1, FirstFailureAt: &now, LastFailureAt: now, OriginTopic: r.Topic, OriginPartition: r.Partition,
			OriginOffset: r.Offset, Key: r.Key, Value: r.Value}
		if _, err := pgstore.IndexFailures(testenv.Ctx(h.t, 10*time.Second), h.db, []pgstore.Failure{f}); err != nil {
			h.t.Fatal(err)
		}
		return f
	}
	h.t.Fatalf("no record for %s", receiptID)
	return pgstore.Failure{}
}

// TestDashboardReadsTenantIsolation: every read endpoint shows tenant A its
// own submission — counts, list, timeline, dead letters, receipt check —
// and shows tenant B nothing of it, by list or by guessing the id, with
// the bearer key and with a dashboard session alike.
func TestDashboardReadsTenantIsolation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 60*time.Second)
	// B has an assignment of the same name, so "by list" is a real list.
	if err := h.b.PutAssignment(ctx, "hw1", client.Assignment{CourseID: "cs101", DueAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	done, err := h.a.Submit(ctx, "k-done", h.upload(h.a, "s-1", []byte("essay one")))
	if err != nil {
		t.Fatal(err)
	}
	h.recordAll()
	parked, err := h.a.Submit(ctx, "k-parked", h.upload(h.a, "s-2", []byte("essay two")))
	if err != nil {
		t.Fatal(err)
	}
	h.deadLetter(parked.ReceiptID)

	bearer := func(key string) *browser {
		b := newBrowser(t, h.url)
		b.c.Transport = bearerTransport{key}
		return b
	}
	sessionA, sessionB := newBrowser(t, h.url), newBrowser(t, h.url)
	sessionA.signIn(h.keyA, "Ada")
	sessionB.signIn(h.keyB, "Bob")

	for name, pair := range map[string][2]*browser{"bearer": {bearer(h.keyA), bearer(h.keyB)}, "session": {sessionA, sessionB}} {
		a, b := pair[0], pair[1]
		t.Run(name, func(t *testing.T) {
			// Overview: A counts one processed and one dead-lettered; B none.
			code, ov := getJSON[schema.AssignmentOverview](t, a, "/v1/assignments/hw1/overview")
			if code != http.StatusOK || ov.Counts.Processed != 1 || ov.Counts.DeadLettered != 1 || ov.CourseID != "cs101" {
				t.Fatalf("A overview %d %+v", code, ov)
			}
			code, ov = getJSON[schema.AssignmentOverview](t, b, "/v1/assignments/hw1/overview")
			if code != http.StatusOK || ov.Counts != (schema.SubmissionCounts{}) {
				t.Fatalf("B overview %d %+v", code, ov)
			}
			// List.
			code, l := getJSON[schema.SubmissionList](t, a, "/v1/assignments/hw1/submissions")
			if code != http.StatusOK || len(l.Items) != 1 || l.Items[0].ReceiptID != done.ReceiptID {
				t.Fatalf("A list %d %+v", code, l)
			}
			code, l = getJSON[schema.SubmissionList](t, b, "/v1/assignments/hw1/submissions")
			if code != http.StatusOK || len(l.Items) != 0 {
				t.Fatalf("B list %d %+v", code, l)
			}
			// Dead letters.
			code, dl := getJSON[schema.DeadLetterList](t, a, "/v1/assignments/hw1/dead-letters")
			if code != http.StatusOK || len(dl.Items) != 1 || dl.Items[0].ReceiptID != parked.ReceiptID || dl.Items[0].Error.Class != "object_missing" {
				t.Fatalf("A dead letters %d %+v", code, dl)
			}
			code, dl = getJSON[schema.DeadLetterList](t, b, "/v1/assignments/hw1/dead-letters")
			if code != http.StatusOK || len(dl.Items) != 0 {
				t.Fatalf("B dead letters %d %+v", code, dl)
			}
			// Timelines, by id.
			code, tl := getJSON[schema.Timeline](t, a, "/v1/submissions/"+done.ReceiptID+"/timeline")
			if code != http.StatusOK || tl.State != schema.StateProcessed || len(tl.Events) != 2 ||
				tl.Events[0].Kind != schema.EventAccepted || !tl.Events[0].At.Equal(done.AcceptedAt) || tl.Events[1].Kind != schema.EventProcessed {
				t.Fatalf("A timeline %d %+v", code, tl)
			}
			code, tl = getJSON[schema.Timeline](t, a, "/v1/submissions/"+parked.ReceiptID+"/timeline")
			if code != http.StatusOK || tl.State != schema.StateDeadLettered || len(tl.Events) != 2 ||
				tl.Events[1].Kind != schema.EventDeadLettered || tl.Events[1].Error.Class != "object_missing" {
				t.Fatalf("A parked timeline %d %+v", code, tl)
			}
			for _, id := range []string{done.ReceiptID, parked.ReceiptID} {
				code, tl = getJSON[schema.Timeline](t, b, "/v1/submissions/"+id+"/timeline")
				if code != http.StatusOK || tl.State != schema.StateQueued || len(tl.Events) != 0 || tl.StudentID != "" {
					t.Fatalf("B guessed %s: %d %+v", id, code, tl)
				}
				code, st := getJSON[schema.SubmissionStatus](t, b, "/v1/submissions/"+id)
				if code != http.StatusOK || st.State != schema.StateQueued || st.StudentID != "" {
					t.Fatalf("B status of %s: %d %+v", id, code, st)
				}
			}
		})
	}

	// The dashboard's pages: A's show the submission, B's do not.
	_, page, _ := sessionA.do(http.MethodGet, "/dashboard/assignments/hw1", nil)
	if !strings.Contains(page, done.ReceiptID) || !strings.Contains(page, parked.ReceiptID) {
		t.Fatalf("A's assignment page lacks its receipts:\n%s", page)
	}
	_, page, _ = sessionB.do(http.MethodGet, "/dashboard/assignments/hw1", nil)
	if strings.Contains(page, done.ReceiptID) || strings.Contains(page, parked.ReceiptID) || strings.Contains(page, "s-1") {
		t.Fatalf("B's assignment page shows A's submissions:\n%s", page)
	}
	_, page, _ = sessionB.do(http.MethodGet, "/dashboard/submissions/"+parked.ReceiptID, nil)
	if strings.Contains(page, "s-2") || strings.Contains(page, "object_missing") {
		t.Fatalf("B's timeline page shows A's submission:\n%s", page)
	}
	// B cannot redrive A's dead letter: the preview finds nothing.
	_, page, _ = sessionB.do(http.MethodGet, "/dashboard/submissions/"+parked.ReceiptID+"/redrive", nil)
	if !strings.Contains(page, "Nothing to redrive") {
		t.Fatalf("B's redrive preview of A's dead letter:\n%s", page)
	}

	// Receipt checks: A's receipt is valid for A, not for B; a changed one is not valid.
	verify := func(key string, r *schema.Receipt) schema.ReceiptVerification {
		t.Helper()
		b, _ := json.Marshal(r)
		req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/receipts/verify", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v schema.ReceiptVerification
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(h.keyA, done.Receipt); !v.Valid || !v.AcceptedAt.Equal(done.AcceptedAt) {
		t.Fatalf("A's own receipt: %+v", v)
	}
	if v := verify(h.keyB, done.Receipt); v.Valid {
		t.Fatalf("B verified A's receipt: %+v", v)
	}
	changed := *done.Receipt
	changed.AcceptedAt = changed.AcceptedAt.Add(-time.Hour) // "I submitted an hour earlier"
	if v := verify(h.keyA, &changed); v.Valid {
		t.Fatalf("a back-dated receipt verified: %+v", v)
	}
}

type bearerTransport struct{ key string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// TestDashboardSession: sign-in takes a known key and a name and sets an
// HttpOnly, SameSite=Strict cookie; pages need it; a forged or revoked one
// is refused; the cookie opens reads, never writes of the JSON API; every
// form POST needs the session's CSRF token.
func TestDashboardSession(t *testing.T) {
	h := newHarness(t, harnessOpts{run: true})
	h.openAssignment()
	b := newBrowser(t, h.url)

	code, _, hdr := b.do(http.MethodGet, "/dashboard/assignments/hw1", nil)
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/dashboard/signin?next=") {
		t.Fatalf("no session: %d %v", code, hdr)
	}
	code, page, _ := b.do(http.MethodPost, "/dashboard/signin", url.Values{"api_key": {"tik_wrong"}, "name": {"Ada"}})
	if code != http.StatusUnauthorized || !strings.Contains(page, "unknown or revoked") {
		t.Fatalf("wrong key: %d", code)
	}
	code, _, _ = b.do(http.MethodPost, "/dashboard/signin", url.Values{"api_key": {h.keyA}, "name": {""}})
	if code != http.StatusBadRequest {
		t.Fatalf("no name: %d", code)
	}
	code, _, hdr = b.do(http.MethodPost, "/dashboard/signin", url.Values{"api_key": {h.keyA}, "name": {"Ada"}, "next": {"https://evil.example/"}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/dashboard" {
		t.Fatalf("sign in with an outside next: %d %v", code, hdr)
	}
	ck := hdr.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || strings.Contains(ck, h.keyA) {
		t.Fatalf("cookie %q", ck)
	}
	code, page, _ = b.do(http.MethodGet, "/dashboard", nil)
	if code != http.StatusOK || !strings.Contains(page, `href="/dashboard/assignments/hw1"`) || !strings.Contains(page, "Ada") {
		t.Fatalf("home: %d\n%s", code, page)
	}

	// The cookie reads the JSON API but never writes it.
	if code, _, _ = b.do(http.MethodGet, "/v1/assignments/hw1/overview", nil); code != http.StatusOK {
		t.Fatalf("overview with the session: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPut, h.url+"/v1/assignments/hw2", strings.NewReader(`{"course_id":"cs101","due_at":"2030-01-01T00:00:00Z"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("PUT with only the session cookie: %d", resp.StatusCode)
	}

	// Forms need the CSRF token (and a same-origin Origin).
	form := url.Values{"student": {"s-1"}, "due_at": {"2030-01-01T00:00"}}
	if code, _, _ = b.do(http.MethodPost, "/dashboard/assignments/hw1/extensions", form); code != http.StatusForbidden {
		t.Fatalf("extension without a token: %d", code)
	}
	form.Set("csrf", b.csrf())
	req, _ = http.NewRequest(http.MethodPost, h.url+"/dashboard/assignments/hw1/extensions", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err = b.c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("extension from another origin: %d", resp.StatusCode)
	}
	if code, page, _ = b.do(http.MethodPost, "/dashboard/assignments/hw1/extensions", form); code != http.StatusOK || !strings.Contains(page, "Granted 1 student") {
		t.Fatalf("extension with the token: %d\n%s", code, page)
	}

	// A forged cookie is no session.
	u, _ := url.Parse(h.url)
	var cookie *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		cookie = c
	}
	forged := newBrowser(t, h.url)
	payload, _, _ := strings.Cut(cookie.Value, ".")
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: payload + ".AAAA"}})
	if code, _, _ = forged.do(http.MethodGet, "/dashboard", nil); code != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", code)
	}

	// Revoking the key ends its sessions within a refresh.
	if err := pgstore.RevokeAPIKey(testenv.Ctx(t, 10*time.Second), h.db, h.keyA); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Ctx(t, 20*time.Second)
	for {
		if code, _, _ = b.do(http.MethodGet, "/dashboard", nil); code == http.StatusSeeOther {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the session outlived its revoked key")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestDashboardExtensionRejudges: a bulk extension gives the students the
// new deadline, judges their processed submissions again on accepted_at
// (flag, seconds and the assignment's late count), records who granted
// it, and is what later submissions are judged by.
func TestDashboardExtensionRejudges(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := testenv.Ctx(t, 60*time.Second)
	h.assignment("hw1", client.Assignment{CourseID: "cs101", DueAt: time.Now().Add(-time.Hour)})
	late1, err := h.a.Submit(ctx, "k-1", h.upload(h.a, "s-1", []byte("one")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.a.Submit(ctx, "k-2", h.upload(h.a, "s-2", []byte("two"))); err != nil {
		t.Fatal(err)
	}
	h.recordAll()
	l, err := h.a.ListSubmissions(ctx, "hw1", "", 0, false)
	if err != nil || l.Counts.Late != 2 {
		t.Fatalf("before: %+v %v", l, err)
	}

	b := newBrowser(t, h.url)
	b.signIn(h.keyA, "Ada Lovelace")
	since, until := late1.AcceptedAt.Add(-time.Minute).Format("2006-01-02T15:04:05"), time.Now().UTC().Add(time.Minute).Format("2006-01-02T15:04:05")
	code, page, _ := b.do(http.MethodGet, "/dashboard/assignments/hw1/window?since="+since+"&until="+until, nil)
	if code != http.StatusOK || !strings.Contains(page, `value="s-1" checked`) || !strings.Contains(page, `value="s-2" checked`) {
		t.Fatalf("window: %d\n%s", code, page)
	}
	due := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
	code, page, _ = b.do(http.MethodPost, "/dashboard/assignments/hw1/extensions", url.Values{"csrf": {b.csrf()},
		"student": {"s-1"}, "more": {"s-9"}, "due_at": {due.Format("2006-01-02T15:04:05")}})
	if code != http.StatusOK || !strings.Contains(page, "1 processed submission(s) were judged again: 1 are no longer late") {
		t.Fatalf("grant: %d\n%s", code, page)
	}

	st, err := h.a.Status(ctx, late1.ReceiptID)
	if err != nil || *st.Late || *st.SecondsLate != 0 {
		t.Fatalf("s-1 after the grant: %+v %v", st, err)
	}
	l, err = h.a.ListSubmissions(ctx, "hw1", "", 0, false)
	if err != nil || l.Counts.Late != 1 {
		t.Fatalf("late count after the grant: %+v %v", l.Counts, err)
	}
	var by string
	var students []string
	if err := h.db.QueryRow(ctx, `SELECT granted_by, students FROM extension_grants WHERE tenant_id = 'uni-a' AND assignment_id = 'hw1'`).
		Scan(&by, &students); err != nil || !strings.HasPrefix(by, "Ada Lovelace (dashboard, key tik_") || len(students) != 2 {
		t.Fatalf("grant row: %q %v %v", by, students, err)
	}
	bb := newBrowser(t, h.url)
	bb.c.Transport = bearerTransport{h.keyA}
	code, a := getJSON[schema.AssignmentSpec](t, bb, "/v1/assignments/hw1")
	if code != http.StatusOK || len(a.Extensions) != 2 || !a.Extensions[0].DueAt.Equal(due) {
		t.Fatalf("assignment after the grant: %d %+v", code, a)
	}
	// Later submissions are judged by it: s-1's second attempt is on time.
	if _, err := h.a.Submit(ctx, "k-3", h.upload(h.a, "s-1", []byte("three"))); err != nil {
		t.Fatal(err)
	}
	h.recordAll()
	code, sl := getJSON[schema.SubmissionList](t, bb, "/v1/assignments/hw1/submissions?student_id=s-1")
	if code != http.StatusOK || len(sl.Items) != 2 || *sl.Items[0].Late || *sl.Items[1].Late || sl.Counts.Late != 1 {
		t.Fatalf("s-1's later attempt: %d %+v", code, sl)
	}
}

// TestDashboardRedrive: the preview shows what will move and moves
// nothing; confirming writes the original record back to the main topic
// and records who did it; a second confirm finds nothing left.
func TestDashboardRedrive(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 60*time.Second)
	rc, err := h.a.Submit(ctx, "k-1", h.upload(h.a, "s-1", []byte("essay")))
	if err != nil {
		t.Fatal(err)
	}
	f := h.deadLetter(rc.ReceiptID)
	before := len(h.records())

	b := newBrowser(t, h.url)
	b.signIn(h.keyA, "Grace")
	code, page, _ := b.do(http.MethodGet, "/dashboard/submissions/"+rc.ReceiptID+"/redrive", nil)
	if code != http.StatusOK || !strings.Contains(page, "Confirm redrive") || !strings.Contains(page, "object_missing") ||
		!strings.Contains(page, "Grace (dashboard") {
		t.Fatalf("preview: %d\n%s", code, page)
	}
	if n := len(h.records()); n != before {
		t.Fatalf("the preview wrote %d records", n-before)
	}
	csrf := b.csrf()
	if code, _, _ = b.do(http.MethodPost, "/dashboard/submissions/"+rc.ReceiptID+"/redrive", url.Values{"csrf": {csrf}}); code != http.StatusBadRequest {
		t.Fatalf("redrive without confirming: %d", code)
	}
	code, _, hdr := b.do(http.MethodPost, "/dashboard/submissions/"+rc.ReceiptID+"/redrive", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "moved+1+record") {
		t.Fatalf("redrive: %d %v", code, hdr)
	}
	recs := h.records()
	if len(recs) != before+1 || string(recs[len(recs)-1].Value) != string(f.Value) {
		t.Fatalf("after the redrive: %d records, want %d with the original value last", len(recs), before+1)
	}
	var by, tenant string
	if err := h.db.QueryRow(ctx, `SELECT requested_by, tenant_id FROM redrives`).Scan(&by, &tenant); err != nil ||
		!strings.HasPrefix(by, "Grace (dashboard, key tik_") || tenant != "uni-a" {
		t.Fatalf("redrive row: %q %q %v", by, tenant, err)
	}
	code, tl := getJSON[schema.Timeline](t, b, "/v1/submissions/"+rc.ReceiptID+"/timeline")
	if code != http.StatusOK || tl.State != schema.StateQueued || tl.Events[len(tl.Events)-1].Kind != schema.EventRedriven ||
		!strings.HasPrefix(tl.Events[len(tl.Events)-1].By, "Grace") {
		t.Fatalf("timeline after the redrive: %+v", tl)
	}
	_, page, _ = b.do(http.MethodGet, "/dashboard/submissions/"+rc.ReceiptID+"/redrive", nil)
	if !strings.Contains(page, "Nothing to redrive") {
		t.Fatalf("second preview:\n%s", page)
	}
}
