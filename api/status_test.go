package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// recordAll records every event on the topic, as a consumer would (the
// consumer itself is another service; its tests live with it).
func (h *harness) recordAll() {
	h.t.Helper()
	var in []pgstore.Incoming
	for _, r := range h.records() {
		ev, err := schema.DecodeSubmission(r.Value)
		if err != nil {
			h.t.Fatal(err)
		}
		in = append(in, pgstore.Incoming{Event: ev, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	}
	if _, err := pgstore.RecordBatch(testenv.Ctx(h.t, 30*time.Second), h.db, in); err != nil {
		h.t.Fatal(err)
	}
}

// TestStatusQueuedThenProcessed: a receipt is queued until recorded, then
// processed with the stored facts; another tenant never sees it.
func TestStatusQueuedThenProcessed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 30*time.Second)
	rc, err := h.a.Submit(ctx, "k-1", h.upload(h.a, "s-1", []byte("essay")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.a.Status(ctx, rc.ReceiptID)
	if err != nil || st.State != "queued" || st.Attempt != 0 {
		t.Fatalf("before recording: %+v %v", st, err)
	}
	h.recordAll()
	st, err = h.a.Status(ctx, rc.ReceiptID)
	if err != nil || st.State != "processed" || st.Attempt != 1 || !st.AcceptedAt.Equal(rc.AcceptedAt) || *st.Late {
		t.Fatalf("after recording: %+v %v", st, err)
	}
	// Tenant B asking for A's receipt learns nothing.
	stB, err := h.b.Status(ctx, rc.ReceiptID)
	if err != nil || stB.State != "queued" || stB.StudentID != "" {
		t.Fatalf("tenant B saw %+v %v", stB, err)
	}
}

// TestListPagination: the list pages through every submission once, in
// accept order, with counts over the whole assignment, tenant-scoped.
func TestListPagination(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.openAssignment()
	ctx := testenv.Ctx(t, 60*time.Second)
	const n = 7
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		req := h.upload(h.a, fmt.Sprintf("s-%d", i%3), []byte(fmt.Sprint("essay ", i)))
		rc, err := h.a.Submit(ctx, fmt.Sprintf("k-%d", i), req)
		if err != nil {
			t.Fatal(err)
		}
		want[rc.ReceiptID] = true
	}
	h.recordAll()
	seen := map[string]bool{}
	var last time.Time
	cursor, pages := "", 0
	for {
		page, err := h.a.ListSubmissions(ctx, "hw1", cursor, 3, false)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Counts.Processed != n || page.Counts.Students != 3 {
			t.Fatalf("counts %+v", page.Counts)
		}
		for _, it := range page.Items {
			if seen[it.ReceiptID] || !want[it.ReceiptID] {
				t.Fatalf("item %s repeated or unknown", it.ReceiptID)
			}
			if it.AcceptedAt.Before(last) {
				t.Fatal("list not in accept order")
			}
			seen[it.ReceiptID], last = true, *it.AcceptedAt
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("%d items over %d pages", len(seen), pages)
	}
	latest, err := h.a.ListSubmissions(ctx, "hw1", "", 100, true)
	if err != nil || len(latest.Items) != 3 {
		t.Fatalf("latest: %d items, %v", len(latest.Items), err)
	}
	if _, err := h.b.ListSubmissions(ctx, "hw1", "", 10, false); apiErr(t, err).Code != schema.CodeNotFound {
		t.Fatal("tenant B listed tenant A's assignment")
	}
}
