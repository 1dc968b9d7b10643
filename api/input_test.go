package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestBadInput (invariant 8): every malformed or forbidden request gets a
// clear 4xx with its stable code, and nothing reaches the log.
func TestBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: api.Config{MaxBodyBytes: 4096}})
	h.openAssignment()
	cut := time.Now().Add(-time.Minute)
	h.assignment("closed", client.Assignment{CourseID: "cs101", DueAt: cut.Add(-time.Hour), CutoffAt: &cut})
	good := h.upload(h.a, "s-1", []byte("my essay"))
	other := h.upload(h.a, "s-2", []byte("someone else's essay"))
	withSet := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(jsonOf(good)), &m)
		f(m)
		return jsonOf(m)
	}
	// The right size with the wrong SHA-256: the store kept the real
	// checksum (the presigned PUT carried it), so the HEAD catches it.
	wrongSum := good
	wrongSum.SHA256 = strings.Repeat("ab", 32)

	const ct = "application/json"
	cases := []struct {
		name, key, contentType, idem, body string
		status                             int
		code                               schema.Code
	}{
		{"no auth", "", ct, "k", jsonOf(good), 401, schema.CodeUnauthenticated},
		{"wrong key", "tik_nope", ct, "k", jsonOf(good), 401, schema.CodeInvalidAPIKey},
		{"no idempotency key", h.keyA, ct, "", jsonOf(good), 400, schema.CodeIdempotencyKeyMissing},
		{"bad idempotency key", h.keyA, ct, "has space", jsonOf(good), 400, schema.CodeIdempotencyKeyInvalid},
		{"long idempotency key", h.keyA, ct, strings.Repeat("k", 129), jsonOf(good), 400, schema.CodeIdempotencyKeyInvalid},
		{"text body", h.keyA, "text/plain", "k", jsonOf(good), 415, schema.CodeUnsupportedMediaType},
		{"no content type", h.keyA, "", "k", jsonOf(good), 415, schema.CodeUnsupportedMediaType},
		{"latin1", h.keyA, "application/json; charset=latin1", "k", jsonOf(good), 415, schema.CodeUnsupportedMediaType},
		{"oversized", h.keyA, ct, "k", `{"course_id":"` + strings.Repeat("x", 5000) + `"}`, 413, schema.CodePayloadTooLarge},
		{"malformed", h.keyA, ct, "k", `{"course_id":`, 400, schema.CodeMalformedJSON},
		{"not an object", h.keyA, ct, "k", `[1,2]`, 400, schema.CodeMalformedJSON},
		{"null", h.keyA, ct, "k", `null`, 400, schema.CodeMalformedJSON},
		{"two objects", h.keyA, ct, "k", jsonOf(good) + jsonOf(good), 400, schema.CodeMalformedJSON},
		{"deeply nested", h.keyA, ct, "k", `{"course_id":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400, schema.CodeJSONTooDeep},
		{"unknown field", h.keyA, ct, "k", withSet(func(m map[string]any) { m["grade"] = "A" }), 400, schema.CodeUnknownField},
		{"wrong type", h.keyA, ct, "k", withSet(func(m map[string]any) { m["size"] = "big" }), 400, schema.CodeInvalidField},
		{"nested where string", h.keyA, ct, "k", withSet(func(m map[string]any) { m["course_id"] = map[string]any{"a": 1} }), 400, schema.CodeInvalidField},
		{"missing student", h.keyA, ct, "k", withSet(func(m map[string]any) { delete(m, "student_id") }), 400, schema.CodeMissingField},
		{"bad id", h.keyA, ct, "k", withSet(func(m map[string]any) { m["student_id"] = "../s-2" }), 400, schema.CodeInvalidField},
		{"negative size", h.keyA, ct, "k", withSet(func(m map[string]any) { m["size"] = -1 }), 400, schema.CodeInvalidField},
		{"bad sha", h.keyA, ct, "k", withSet(func(m map[string]any) { m["sha256"] = "abc" }), 400, schema.CodeInvalidField},
		{"bad time", h.keyA, ct, "k", withSet(func(m map[string]any) { m["client_submitted_at"] = "yesterday" }), 400, schema.CodeInvalidField},
		{"bad content type", h.keyA, ct, "k", withSet(func(m map[string]any) { m["content_type"] = "not a type" }), 400, schema.CodeInvalidField},
		{"other student's object", h.keyA, ct, "k", withSet(func(m map[string]any) { m["object_key"] = other.ObjectKey }), 403, schema.CodeObjectKeyForbidden},
		{"path trick", h.keyA, ct, "k", withSet(func(m map[string]any) {
			m["object_key"] = schema.StudentPrefix("uni-a", "cs101", "hw1", "s-1") + "../s-2/x"
		}), 403, schema.CodeObjectKeyForbidden},
		{"missing object", h.keyA, ct, "k", withSet(func(m map[string]any) {
			m["object_key"] = schema.StudentPrefix("uni-a", "cs101", "hw1", "s-1") + "never-uploaded.pdf"
		}), 422, schema.CodeObjectNotFound},
		{"size mismatch", h.keyA, ct, "k", withSet(func(m map[string]any) { m["size"] = good.Size + 1 }), 422, schema.CodeObjectSizeMismatch},
		{"checksum mismatch", h.keyA, ct, "k", jsonOf(wrongSum), 422, schema.CodeObjectChecksumMismatch},
		{"unknown assignment", h.keyA, ct, "k", withSet(func(m map[string]any) { m["assignment_id"] = "hw9" }), 403, schema.CodeObjectKeyForbidden},
		{"wrong tenant key", h.keyB, ct, "k", jsonOf(good), 403, schema.CodeObjectKeyForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, eb, hdr := h.rawPost("/v1/submissions", c.key, c.contentType, c.idem, c.body)
			if status != c.status || eb.Error.Code != c.code {
				t.Fatalf("got %d %q (%s), want %d %q", status, eb.Error.Code, eb.Error.Message, c.status, c.code)
			}
			if eb.Error.Message == "" || hdr.Get("X-Request-Id") == "" || eb.Error.RequestID != hdr.Get("X-Request-Id") {
				t.Errorf("error body %+v lacks a message or request id", eb)
			}
		})
	}

	// Domain refusals that need their own objects.
	ctx := testenv.Ctx(t, 30*time.Second)
	t.Run("unknown assignment", func(t *testing.T) {
		r := good
		r.AssignmentID = "hw9"
		r.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw9", "s-1") + "x.pdf"
		_, err := h.a.Submit(ctx, "k", r)
		if e := apiErr(t, err); e.Status != 422 || e.Code != schema.CodeUnknownAssignment {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("course mismatch", func(t *testing.T) {
		r := good
		r.CourseID = "cs999"
		r.ObjectKey = schema.StudentPrefix("uni-a", "cs999", "hw1", "s-1") + "x.pdf"
		_, err := h.a.Submit(ctx, "k", r)
		if e := apiErr(t, err); e.Status != 422 || e.Code != schema.CodeCourseMismatch {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("after cut-off", func(t *testing.T) {
		_, err := h.a.RequestUpload(ctx, client.UploadRequest{CourseID: "cs101", AssignmentID: "closed", StudentID: "s-1",
			Filename: "x.pdf", ContentType: "application/pdf", Size: 1, SHA256: good.SHA256})
		if e := apiErr(t, err); e.Status != 403 || e.Code != schema.CodePastCutoff {
			t.Fatalf("upload after cut-off: %+v", e)
		}
		r := good
		r.AssignmentID = "closed"
		r.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "closed", "s-1") + "x.pdf"
		_, err = h.a.Submit(ctx, "k", r)
		if e := apiErr(t, err); e.Status != 403 || e.Code != schema.CodePastCutoff {
			t.Fatalf("submit after cut-off: %+v", e)
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		status, eb, _ := h.rawPost("/v1/nope", h.keyA, ct, "", "{}")
		if status != 404 || eb.Error.Code != schema.CodeRouteNotFound {
			t.Fatalf("got %d %+v", status, eb)
		}
	})

	if n := len(h.records()); n != 0 {
		t.Fatalf("%d records on the log after only refused requests", n)
	}
	// And the good request still goes through.
	if _, err := h.a.Submit(ctx, "k-good", good); err != nil {
		t.Fatal(err)
	}
}

// TestUploadRequestValidation: POST /v1/uploads refuses what it cannot sign.
func TestUploadRequestValidation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ok := uploadReq("s-1", []byte("x"))
	cases := []struct {
		name string
		mut  func(r *client.UploadRequest)
		code schema.Code
	}{
		{"no filename", func(r *client.UploadRequest) { r.Filename = "" }, schema.CodeMissingField},
		{"zero size", func(r *client.UploadRequest) { r.Size = 0 }, schema.CodeMissingField},
		{"huge", func(r *client.UploadRequest) { r.Size = 1 << 40 }, schema.CodeInvalidField},
		{"bad sha", func(r *client.UploadRequest) { r.SHA256 = "XYZ" }, schema.CodeInvalidField},
		{"bad student", func(r *client.UploadRequest) { r.StudentID = "a/b" }, schema.CodeInvalidField},
		{"unknown assignment", func(r *client.UploadRequest) { r.AssignmentID = "zz" }, schema.CodeUnknownAssignment},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			c.mut(&r)
			_, err := h.a.RequestUpload(testenv.Ctx(t, 10*time.Second), r)
			if e := apiErr(t, err); e.Code != c.code {
				t.Fatalf("got %+v, want %s", e, c.code)
			}
		})
	}
	// A filename cannot climb out of the student's prefix.
	r := ok
	r.Filename = "../../s-2/evil.pdf"
	up, err := h.a.RequestUpload(testenv.Ctx(t, 10*time.Second), r)
	if err != nil {
		t.Fatal(err)
	}
	if !schema.HasStudentPrefix(up.ObjectKey, "uni-a", "cs101", "hw1", "s-1") {
		t.Fatalf("object key %q escaped the prefix", up.ObjectKey)
	}
}

// TestTenantIsolation (invariant 9): tenant B can neither read tenant A's
// assignments nor submit A's objects, and the same idempotency key in two
// tenants names two receipts.
func TestTenantIsolation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	req := h.upload(h.a, "s-1", []byte("A's essay"))

	req2 := req
	_, err := h.b.Submit(ctx, "same-key", req2)
	if e := apiErr(t, err); e.Code != schema.CodeObjectKeyForbidden {
		t.Fatalf("B submitting A's object: %+v", e)
	}
	// B names its own tenant in the key's place: B has no such assignment.
	req2.ObjectKey = strings.Replace(req.ObjectKey, "tenants/uni-a/", "tenants/uni-b/", 1)
	_, err = h.b.Submit(ctx, "same-key", req2)
	if e := apiErr(t, err); e.Code != schema.CodeUnknownAssignment {
		t.Fatalf("B submitting to A's assignment: %+v", e)
	}
	resp, err := authedGet(ctx, h.url+"/v1/assignments/hw1", h.keyB)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("B reading A's assignment: %d", resp.StatusCode)
	}
	_, err = h.b.RequestUpload(ctx, uploadReq("s-1", []byte("x")))
	if e := apiErr(t, err); e.Code != schema.CodeUnknownAssignment {
		t.Fatalf("B uploading to A's assignment: %+v", e)
	}
	ra, err := h.a.Submit(ctx, "same-key", req)
	if err != nil {
		t.Fatal(err)
	}
	if ra.ReceiptID == schema.ReceiptID("uni-b", "same-key") {
		t.Fatal("receipt ids collide across tenants")
	}
}

func authedGet(ctx context.Context, url, key string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}
