package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestSyncBaseline: the comparison baseline writes the submission, the
// enrollment and the hot counter before answering, once per receipt, and
// nothing reaches the log.
func TestSyncBaseline(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: api.Config{AcceptMode: api.AcceptSync}})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	var first string
	for i := 0; i < 3; i++ {
		req := h.upload(h.a, "s-1", []byte(fmt.Sprint("essay ", i)))
		rc, err := h.a.Submit(ctx, fmt.Sprint("k-", i), req)
		if err != nil {
			t.Fatal(err)
		}
		if rc.State != schema.StateProcessed {
			t.Fatalf("state %q, want processed at once", rc.State)
		}
		if i == 0 {
			first = rc.ReceiptID
			// A resend changes nothing.
			if _, err := h.a.Submit(ctx, "k-0", req); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, _, err := pgstore.GetSubmission(ctx, h.db, "uni-a", first)
	if err != nil || st.Attempt != 1 {
		t.Fatalf("row %+v %v", st, err)
	}
	var subs, students, enrolled int64
	if err := h.db.QueryRow(ctx, `SELECT submissions, students, (SELECT submissions FROM enrollments WHERE student_id = 's-1')
		FROM assignment_counters WHERE assignment_id = 'hw1'`).Scan(&subs, &students, &enrolled); err != nil {
		t.Fatal(err)
	}
	if subs != 3 || students != 1 || enrolled != 3 {
		t.Fatalf("counter %d, students %d, enrollment %d; want 3, 1, 3", subs, students, enrolled)
	}
	if n := len(h.records()); n != 0 {
		t.Fatalf("the synchronous baseline wrote %d records to the log", n)
	}
}
