package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

func devConfig(t *testing.T, dir, dbURL string) DevConfig {
	return DevConfig{
		DataDir: dir, DatabaseURL: dbURL, HTTPAddr: "127.0.0.1:0", SyncWrites: true,
		Kafka: kafka.Config{Brokers: []string{"embedded:0"}}.WithDefaults(), S3: objstore.Config{}.WithDefaults(),
		VerifyFraction: 1, Logger: testenv.Logger(t),
	}
}

func startDev(t *testing.T, cfg DevConfig) (*Dev, func()) {
	t.Helper()
	d, err := StartDev(testenv.Ctx(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		d.Close()
	}
	return d, stop
}

// TestDevEndToEnd runs `turnin dev` as a user would — the embedded stack
// in a data dir — submits the banner's example, restarts, and finds the
// same key working and the acknowledged event still on the log.
func TestDevEndToEnd(t *testing.T) {
	_, dbURL := testenv.Postgres(t)
	dir := t.TempDir()
	d, stop := startDev(t, devConfig(t, dir, dbURL))

	var banner bytes.Buffer
	printBanner(&banner, d, dir, dbURL, schema.DefaultTopic, objstore.DefaultBucket, true)
	if !strings.Contains(banner.String(), d.APIKey) || !strings.Contains(banner.String(), "turnin submit --course cs101 --assignment hw1") ||
		!strings.Contains(banner.String(), d.URL+"/dashboard") {
		t.Fatalf("banner lacks the key, the example or the dashboard's URL:\n%s", banner.String())
	}

	c := client.New(d.URL, d.APIKey)
	ctx := testenv.Ctx(t, time.Minute)
	rc, err := c.SubmitFile(ctx, "first-attempt", client.UploadRequest{
		CourseID: "cs101", AssignmentID: "hw1", StudentID: "s-001", Filename: "essay.txt", ContentType: "text/plain",
	}, []byte("my essay\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rc.ReceiptID != schema.ReceiptID(DevTenant, "first-attempt") {
		t.Fatalf("receipt %+v", rc)
	}
	// The embedded consumer records it: the status moves to processed with
	// the event's facts, lateness judged on accepted_at.
	st := waitProcessed(t, c, rc.ReceiptID)
	if st.Attempt != 1 || st.Late == nil || *st.Late || st.StudentID != "s-001" || !st.AcceptedAt.Equal(rc.AcceptedAt) ||
		st.SHA256 != rc.Receipt.SHA256 {
		t.Fatalf("status %+v for receipt %+v", st, rc)
	}
	// A late one: lateness is judged on accepted_at, end to end.
	due := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	if err := c.PutAssignment(ctx, "hw0", client.Assignment{CourseID: "cs101", DueAt: due}); err != nil {
		t.Fatal(err)
	}
	lateRc, err := c.SubmitFile(ctx, "late-attempt", client.UploadRequest{
		CourseID: "cs101", AssignmentID: "hw0", StudentID: "s-001", Filename: "late.txt", ContentType: "text/plain",
	}, []byte("late essay\n"))
	if err != nil {
		t.Fatal(err)
	}
	lateSt := waitProcessed(t, c, lateRc.ReceiptID)
	want := int64(lateRc.AcceptedAt.Sub(due) / time.Second)
	if lateSt.Late == nil || !*lateSt.Late || *lateSt.SecondsLate < want || *lateSt.SecondsLate > want+1 || !lateRc.Late {
		t.Fatalf("late submission: status %+v, receipt %+v, want about %d seconds late", lateSt, lateRc, want)
	}
	key := d.APIKey
	stop()

	d2, stop2 := startDev(t, devConfig(t, dir, dbURL))
	defer stop2()
	if d2.APIKey != key {
		t.Fatalf("the dev key changed across restarts: %s then %s", key, d2.APIKey)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d2.Broker.Addrs()...), kgo.ConsumeTopics(schema.DefaultTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithLogger(kgo.BasicLogger(discard{}, kgo.LogLevelNone, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var found bool
	for !found {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the acknowledged event is not on the log after a restart")
		}
		fs.EachRecord(func(r *kgo.Record) {
			if ev, err := schema.DecodeSubmission(r.Value); err == nil && ev.ReceiptID == rc.ReceiptID {
				found = true
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestDevNeedsPostgres: without a reachable database, dev stops with a
// message that says how to get one.
func TestDevNeedsPostgres(t *testing.T) {
	cfg := devConfig(t, t.TempDir(), "postgres://turnin@127.0.0.1:1/turnin?sslmode=disable&connect_timeout=2")
	_, err := StartDev(testenv.Ctx(t, 30*time.Second), cfg)
	if err == nil || !strings.Contains(err.Error(), "make run") {
		t.Fatalf("err = %v, want a hint to run make run", err)
	}
}

func waitProcessed(t *testing.T, c *client.Client, id string) *client.Status {
	t.Helper()
	return waitState(t, c, id, "processed")
}
