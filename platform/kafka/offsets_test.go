package kafka_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/testenv"
)

// failListOffsets makes the broker answer the next n ListOffsets requests
// with code for every partition asked about, the way a real cluster
// answers while a partition has no leader.
func failListOffsets(b *embedded.Broker, n int32, code int16) *atomic.Int32 {
	var seen atomic.Int32
	b.Cluster().ControlKey(kmsg.ListOffsets.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if seen.Add(1) > n {
			return nil, nil, false
		}
		b.Cluster().KeepControl()
		req := kr.(*kmsg.ListOffsetsRequest)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode = code
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})
	return &seen
}

// TestOffsetsWaitOutLeaderlessPartitions: an offset listing that names a
// partition with an error is never returned as if it were an answer (kadm
// gives such a partition offset -1, which silently drops records from a
// sum or a range); retriable errors are waited out, others fail.
func TestOffsetsWaitOutLeaderlessPartitions(t *testing.T) {
	b, err := embedded.Start(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := kafka.Config{Brokers: b.Addrs(), Topic: "offsets." + testenv.ID(), Partitions: 3, Logger: testenv.Logger(t)}.WithDefaults()
	cl, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testenv.Ctx(t, time.Minute)
	if err := kafka.EnsureTopics(ctx, cl, cfg, cfg.Topic); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	want := map[int32]int64{0: 0, 1: 0, 2: 0}
	for i := range 9 {
		r := &kgo.Record{Topic: cfg.Topic, Key: []byte{byte(i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[r.Partition]++
	}
	adm := kadm.NewClient(cl)

	seen := failListOffsets(b, 3, kerr.NotLeaderForPartition.Code)
	ends, err := kafka.EndOffsets(ctx, adm, cfg.Topic)
	if err != nil || len(ends) != 3 || ends[0] != want[0] || ends[1] != want[1] || ends[2] != want[2] {
		t.Fatalf("end offsets %v %v, want %v", ends, err, want)
	}
	if n := seen.Load(); n < 4 {
		t.Fatalf("%d ListOffsets requests: the leaderless answers were not retried", n)
	}

	failListOffsets(b, 2, kerr.LeaderNotAvailable.Code)
	starts, err := kafka.OffsetsAfter(ctx, adm, cfg.Topic, before)
	if err != nil || len(starts) != 3 || starts[0] != 0 || starts[1] != 0 || starts[2] != 0 {
		t.Fatalf("offsets after %v: %v %v", before, starts, err)
	}

	failListOffsets(b, 1, kerr.UnknownServerError.Code)
	if got, err := kafka.StartOffsets(ctx, adm, cfg.Topic); !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("a partition that could not be listed gave %v, %v; want the error", got, err)
	}
}
