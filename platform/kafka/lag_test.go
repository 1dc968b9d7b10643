package kafka_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/testenv"
)

// TestMeasureBacklog: the backlog counts what lies past the group's
// committed offsets (from the log start when it committed nothing) and
// dates it by the first unprocessed record.
func TestMeasureBacklog(t *testing.T) {
	k := testenv.NewKafka(t, embedded.Config{})
	cfg := k.Config(t)
	cl, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testenv.Ctx(t, time.Minute)
	// Within the delivery timeout, which franz-go counts from the record's timestamp.
	t0 := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	var part int32
	for i := range 3 {
		r := &kgo.Record{Topic: k.Topic, Key: []byte("one-student"), Value: []byte{byte(i)}, Timestamp: t0.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		part = r.Partition
	}
	measure := func() *kafka.Backlog {
		t.Helper()
		b, err := kafka.MeasureBacklog(ctx, cl, cfg, k.Topic, "g")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	commit := func(at int64) {
		t.Helper()
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: k.Topic, Partition: part, At: at, LeaderEpoch: -1})
		if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "g", offs); err != nil {
			t.Fatal(err)
		}
	}

	if b := measure(); b.Records != 3 || !b.OldestAt.Equal(t0) || b.Wait() < 10*time.Second {
		t.Fatalf("no commits: %+v (wait %v)", b, b.Wait())
	}
	commit(1)
	if b := measure(); b.Records != 2 || !b.OldestAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("committed 1: %+v", b)
	}
	commit(3)
	if b := measure(); b.Records != 0 || !b.OldestAt.IsZero() || b.Wait() != 0 {
		t.Fatalf("caught up: %+v", b)
	}
}
