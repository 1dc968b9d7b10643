package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/dlq"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestReplayAndAudit: replaying an already-processed range through the
// consumers adds no row; the audit passes on the clean run and names the
// one receipt whose row is then deleted behind turnin's back.
func TestReplayAndAudit(t *testing.T) {
	_, dbURL := testenv.Postgres(t)
	dir := t.TempDir()
	start := time.Now().Add(-time.Second)
	d, stop := startDev(t, devConfig(t, dir, dbURL))
	c := client.New(d.URL, d.APIKey)
	ctx := testenv.Ctx(t, 2*time.Minute)
	var receipts []string
	for i := 0; i < 10; i++ {
		rc, err := c.SubmitFile(ctx, fmt.Sprint("k-", i), client.UploadRequest{CourseID: "cs101", AssignmentID: "hw1",
			StudentID: fmt.Sprint("s-", i), Filename: "e.txt", ContentType: "text/plain"}, []byte(fmt.Sprint("essay ", i)))
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, rc.ReceiptID)
	}
	for _, id := range receipts {
		waitProcessed(t, c, id)
	}
	waitCaughtUp(t, d)
	audit := func() *dlq.AuditReport {
		rep, err := dlq.Audit(ctx, dlq.AuditConfig{Kafka: d.cfg.Kafka, Group: consumer.DefaultGroup,
			Since: start, Until: time.Now().Add(time.Second)}, d.DB)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	kcfg := d.cfg.Kafka
	if rep := audit(); rep.Processed != 10 || len(rep.Gone) != 0 {
		t.Fatalf("clean audit: %+v", rep)
	}
	stop()

	// The consumers are stopped (the group is empty); the broker alone
	// comes back on the same log for the replay.
	b, err := embedded.Start(embedded.Config{DataDir: filepath.Join(dir, "kafka")})
	if err != nil {
		t.Fatal(err)
	}
	kcfg.Brokers = b.Addrs()
	res, err := dlq.Replay(ctx, dlq.ReplayConfig{Kafka: kcfg, Since: start, Group: consumer.DefaultGroup})
	if err != nil || res.Records != 10 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	// The group really was moved back: the records will be delivered again.
	acl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	lag, err := kadm.NewClient(acl).Lag(ctx, consumer.DefaultGroup)
	acl.Close()
	b.Close()
	if err != nil || lag[consumer.DefaultGroup].Lag.Total() != 10 {
		t.Fatalf("after the replay the group lags %d records (%v), want 10", lag[consumer.DefaultGroup].Lag.Total(), err)
	}
	d, stop = startDev(t, devConfig(t, dir, dbURL))
	defer stop()
	waitCaughtUp(t, d)
	var rows, counter int64
	if err := d.DB.QueryRow(ctx, `SELECT count(*), (SELECT submissions FROM assignment_counters WHERE tenant_id = 'dev' AND assignment_id = 'hw1') FROM submissions`).Scan(&rows, &counter); err != nil {
		t.Fatal(err)
	}
	if rows != 10 || counter != 10 {
		t.Fatalf("after replaying 10 processed records: %d rows, counter %d", rows, counter)
	}

	if _, err := d.DB.Exec(ctx, `DELETE FROM submissions WHERE receipt_id = $1`, receipts[3]); err != nil {
		t.Fatal(err)
	}
	rep, err := dlq.Audit(ctx, dlq.AuditConfig{Kafka: d.cfg.Kafka, Group: consumer.DefaultGroup,
		Since: start, Until: time.Now().Add(time.Second)}, d.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Gone) != 1 || rep.Gone[0].ReceiptID != receipts[3] {
		t.Fatalf("audit after a deleted row: %+v", rep)
	}
}

// waitCaughtUp waits until the main consumer group has committed up to the
// end of every partition of the submissions topic.
func waitCaughtUp(t *testing.T, d *Dev) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.Broker.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := testenv.Ctx(t, time.Minute)
	for {
		lag, err := adm.Lag(ctx, consumer.DefaultGroup)
		if err == nil {
			if l, ok := lag[consumer.DefaultGroup]; ok && l.FetchErr == nil && l.DescribeErr == nil &&
				len(l.Lag[schema.DefaultTopic]) > 0 && l.Lag.Total() == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer group never caught up: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
