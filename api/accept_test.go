package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

func uploadReq(student string, body []byte) client.UploadRequest {
	sum := sha256.Sum256(body)
	return client.UploadRequest{CourseID: "cs101", AssignmentID: "hw1", StudentID: student,
		Filename: "essay.pdf", ContentType: "application/pdf", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

// TestAcceptWritesEvent: a 202 means the documented event is on the topic,
// keyed by tenant/assignment/student, with a receipt that verifies; a
// resend with the same key gets the same receipt id.
func TestAcceptWritesEvent(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	body := []byte("%PDF-1.7 my essay")
	req := h.upload(h.a, "s-42", body)

	rc, err := h.a.Submit(ctx, "attempt-1", req)
	if err != nil {
		t.Fatal(err)
	}
	if rc.ReceiptID != schema.ReceiptID("uni-a", "attempt-1") || rc.State != "queued" || rc.Late {
		t.Fatalf("receipt = %+v", rc)
	}
	if rc.StatusURL != "/v1/submissions/"+rc.ReceiptID {
		t.Errorf("status_url = %q", rc.StatusURL)
	}
	if err := rc.Receipt.Verify(h.pub); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	again, err := h.a.Submit(ctx, "attempt-1", req)
	if err != nil {
		t.Fatal(err)
	}
	if again.ReceiptID != rc.ReceiptID {
		t.Fatalf("resend got receipt %s, first %s", again.ReceiptID, rc.ReceiptID)
	}

	recs := h.records()
	if len(recs) != 2 {
		t.Fatalf("%d records on the topic, want 2 (one per accepted request)", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "uni-a/hw1/s-42" {
		t.Errorf("key = %q", r.Key)
	}
	ev, err := schema.DecodeSubmission(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ReceiptID != rc.ReceiptID || ev.TenantID != "uni-a" || ev.CourseID != "cs101" || ev.AssignmentID != "hw1" ||
		ev.StudentID != "s-42" || ev.IdempotencyKey != "attempt-1" || ev.ObjectKey != req.ObjectKey ||
		ev.Size != req.Size || ev.SHA256 != req.SHA256 || ev.ContentType != "application/pdf" ||
		!ev.AcceptedAt.Equal(rc.AcceptedAt) || ev.EventID == "" {
		t.Errorf("event = %+v, receipt %+v", ev, rc)
	}
	headers := map[string]string{}
	for _, hd := range r.Headers {
		headers[hd.Key] = string(hd.Value)
	}
	if headers[schema.HeaderSchemaVersion] != "1" || headers[schema.HeaderEventID] != ev.EventID ||
		headers[schema.HeaderTenant] != "uni-a" || len(headers[schema.HeaderTraceParent]) != 55 {
		t.Errorf("headers = %v", headers)
	}
	ev2, _ := schema.DecodeSubmission(recs[1].Value)
	if ev2.ReceiptID != ev.ReceiptID || ev2.RequestDigest != ev.RequestDigest || ev2.EventID == ev.EventID {
		t.Errorf("resent event %+v vs first %+v", ev2, ev)
	}
}

// TestLatenessOnAcceptedAt: the receipt judges lateness on accepted_at,
// with the student's extension.
func TestLatenessOnAcceptedAt(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	due := time.Now().Add(-time.Hour)
	h.assignment("hw1", client.Assignment{CourseID: "cs101", DueAt: due,
		Extensions: []client.Extension{{StudentID: "s-ext", DueAt: time.Now().Add(time.Hour)}}})
	ctx := testenv.Ctx(t, 30*time.Second)
	rc, err := h.a.Submit(ctx, "k-late", h.upload(h.a, "s-1", []byte("late work")))
	if err != nil {
		t.Fatal(err)
	}
	want := int64(rc.AcceptedAt.Sub(due).Seconds())
	if !rc.Late || rc.SecondsLate < want || rc.SecondsLate > want+1 {
		t.Errorf("late=%v seconds_late=%d, want about %d", rc.Late, rc.SecondsLate, want)
	}
	rc, err = h.a.Submit(ctx, "k-ext", h.upload(h.a, "s-ext", []byte("extended work")))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Late {
		t.Errorf("a student with an extension was judged late: %+v", rc)
	}
}

// TestAcceptPathNeverTouchesPostgres (invariant 2): after the snapshots are
// loaded, accepting submissions runs no statement at all.
func TestAcceptPathNeverTouchesPostgres(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	reqs := make([]client.SubmitRequest, 5)
	for i := range reqs {
		reqs[i] = h.upload(h.a, fmt.Sprintf("s-%d", i), []byte(fmt.Sprintf("file %d", i)))
	}
	before := h.queries.Load()
	for i, r := range reqs {
		if _, err := h.a.Submit(ctx, fmt.Sprintf("k-%d", i), r); err != nil {
			t.Fatal(err)
		}
	}
	// And a refused one, which must not fall back to the database either.
	_, _ = h.a.Submit(ctx, "k-bad", client.SubmitRequest{CourseID: "cs101", AssignmentID: "nope", StudentID: "s", ObjectKey: "x", Size: 1, SHA256: reqs[0].SHA256, ContentType: "text/plain"})
	if n := h.queries.Load() - before; n != 0 {
		t.Fatalf("the accept path ran %d database statements", n)
	}
}

// TestNo202WhenBrokerRefuses (invariant 1): a broker that refuses the
// write gets a 503 with Retry-After, and nothing is on the log.
func TestNo202WhenBrokerRefuses(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: api.Config{ProduceTimeout: 2 * time.Second}})
	if h.kafka.Embedded == nil {
		t.Skip("fault injection needs the embedded broker")
	}
	h.openAssignment()
	req := h.upload(h.a, "s-1", []byte("essay"))
	fh := h.kafka.Embedded.Cluster().Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1,
	})
	_, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k-1", req)
	e := apiErr(t, err)
	if e.Status != http.StatusServiceUnavailable || e.Code != schema.CodeBrokerUnavailable || e.RetryAfter < time.Second {
		t.Fatalf("got %+v, want 503 broker_unavailable with Retry-After", e)
	}
	fh.Remove()
	if n := len(h.records()); n != 0 {
		t.Fatalf("%d records on the log after a refused produce", n)
	}
	// The same key goes through once the broker accepts again.
	if _, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k-1", req); err != nil {
		t.Fatal(err)
	}
}

// TestNo202WhenBrokerSlow (invariant 1): a broker that never acknowledges
// gets a 503 "outcome unknown" within the produce timeout — never a hang,
// never a false receipt — and a resend with the same key later gets the
// same receipt id.
func TestNo202WhenBrokerSlow(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, harnessOpts{cfg: api.Config{ProduceTimeout: timeout}})
	if h.kafka.Embedded == nil {
		t.Skip("fault injection needs the embedded broker")
	}
	h.openAssignment()
	req := h.upload(h.a, "s-1", []byte("essay"))
	fh := h.kafka.Embedded.Cluster().Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1,
	})
	start := time.Now()
	_, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k-1", req)
	took := time.Since(start)
	e := apiErr(t, err)
	if e.Status != http.StatusServiceUnavailable || e.Code != schema.CodeProduceOutcomeUnknown || e.RetryAfter < time.Second {
		t.Fatalf("got %+v, want 503 produce_outcome_unknown with Retry-After", e)
	}
	// A correctness bound, not a benchmark: the answer comes from the
	// produce timeout, not from a hang.
	if took > timeout+5*time.Second {
		t.Fatalf("503 took %v with a %v produce timeout", took, timeout)
	}
	fh.Remove()
	// A client retries with the same key, as told, until accepted.
	rc := h.submitRetrying("k-1", req)
	if rc.ReceiptID != schema.ReceiptID("uni-a", "k-1") {
		t.Fatalf("receipt %s", rc.ReceiptID)
	}
	// The timed-out attempt may have landed too: every event on the log
	// carries the one receipt id, so a consumer keeps one row.
	for _, r := range h.records() {
		ev, err := schema.DecodeSubmission(r.Value)
		if err != nil || ev.ReceiptID != rc.ReceiptID {
			t.Fatalf("event %v %v", ev, err)
		}
	}
}

// TestNo202WhenBrokerDown (invariant 1): with the broker gone, accepting
// answers 503 in bounded time and readiness says so.
func TestNo202WhenBrokerDown(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, harnessOpts{cfg: api.Config{ProduceTimeout: timeout}})
	if h.kafka.Embedded == nil {
		t.Skip("stopping the broker needs the embedded broker")
	}
	h.openAssignment()
	req := h.upload(h.a, "s-1", []byte("essay"))
	h.kafka.Embedded.Close()
	start := time.Now()
	_, err := h.a.Submit(testenv.Ctx(t, 30*time.Second), "k-1", req)
	e := apiErr(t, err)
	if e.Status != http.StatusServiceUnavailable {
		t.Fatalf("got %+v, want 503", e)
	}
	if took := time.Since(start); took > timeout+5*time.Second {
		t.Fatalf("503 took %v", took)
	}
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with the broker down", resp.StatusCode)
	}
}
