package main

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/dlq"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestDeadLetterThenRedrive follows one submission through failure and
// recovery with every part real: accepted with the object check deferred,
// the consumer finds the object missing (permanent) and dead-letters it,
// the indexer makes status say dead_lettered, staff upload the file and
// redrive, and the submission ends processed. Never gone.
func TestDeadLetterThenRedrive(t *testing.T) {
	_, dbURL := testenv.Postgres(t)
	cfg := devConfig(t, t.TempDir(), dbURL)
	cfg.API.ObjectCheck = api.ObjectCheckDeferred
	d, stop := startDev(t, cfg)
	defer stop()
	c := client.New(d.URL, d.APIKey)
	ctx := testenv.Ctx(t, 2*time.Minute)

	content := []byte("the essay that was never uploaded")
	sum := sha256.Sum256(content)
	req := client.SubmitRequest{CourseID: "cs101", AssignmentID: "hw1", StudentID: "s-9",
		ObjectKey: schema.StudentPrefix(DevTenant, "cs101", "hw1", "s-9") + "essay.txt",
		Size:      int64(len(content)), SHA256: hex.EncodeToString(sum[:]), ContentType: "text/plain"}
	rc, err := c.Submit(ctx, "k-missing", req)
	if err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, rc.ReceiptID, schema.StateDeadLettered)
	if st.Error == nil || st.Error.Class != string(schema.ClassObjectMissing) {
		t.Fatalf("dead-lettered status %+v", st)
	}

	// A redrive while the file is still missing parks it again: once more
	// through the tiers' logic, back to dead_lettered, never a loop.
	res, err := dlq.Redrive(ctx, dlq.RedriveConfig{Filter: pgstore.FailureFilter{ReceiptIDs: []string{rc.ReceiptID}},
		Topic: schema.DefaultTopic, By: "test"}, d.Producer, d.DB)
	if err != nil || res.Moved != 1 {
		t.Fatalf("first redrive: %+v %v", res, err)
	}
	waitFailures(t, d, rc.ReceiptID, 2)
	waitState(t, c, rc.ReceiptID, schema.StateDeadLettered)

	// Staff put the file where it belongs, then redrive the dead letter.
	uploadObject(t, d, req, content)
	res, err = dlq.Redrive(ctx, dlq.RedriveConfig{Filter: pgstore.FailureFilter{ReceiptIDs: []string{rc.ReceiptID}},
		Topic: schema.DefaultTopic, By: "test"}, d.Producer, d.DB)
	if err != nil || res.Moved != 1 {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	st = waitState(t, c, rc.ReceiptID, schema.StateProcessed)
	if st.SHA256 != req.SHA256 || !st.AcceptedAt.Equal(rc.AcceptedAt) {
		t.Fatalf("processed status %+v", st)
	}
}

func waitState(t *testing.T, c *client.Client, id, state string) *client.Status {
	t.Helper()
	ctx := testenv.Ctx(t, time.Minute)
	for {
		st, err := c.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("receipt %s is %s, never %s", id, st.State, state)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitFailures waits until the index holds n failures of a receipt.
func waitFailures(t *testing.T, d *Dev, id string, n int) {
	t.Helper()
	testenv.WaitCount(t, d.DB, `SELECT count(*) FROM failures WHERE receipt_id = $1`, int64(n), id)
}
