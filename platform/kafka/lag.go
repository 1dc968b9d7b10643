package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Backlog is how far a consumer group is behind on a topic, in records and
// in time.
type Backlog struct {
	Topic, Group string
	// Records is the sum over partitions of end offset minus the group's
	// committed offset (the log start where it has committed nothing).
	Records int64
	// OldestAt is the timestamp of the oldest record not yet processed —
	// the first one past a committed offset — or zero when Records is 0.
	// The producer stamps records when it sends them, so for the main topic
	// it is within milliseconds of the submission's accepted_at.
	OldestAt time.Time
	// MeasuredAt is when the offsets were read.
	MeasuredAt time.Time
}

// Wait is how long the oldest unprocessed record has waited, at MeasuredAt.
func (b *Backlog) Wait() time.Duration {
	if b.OldestAt.IsZero() {
		return 0
	}
	return b.MeasuredAt.Sub(b.OldestAt)
}

// MeasureBacklog reads the group's committed offsets and the topic's start
// and end offsets through cl (any client: it only sends admin requests),
// then fetches the first unprocessed record of each lagging partition with
// a short-lived client built from cfg, for its timestamp. It reads; it
// commits nothing and joins no group.
func MeasureBacklog(ctx context.Context, cl *kgo.Client, cfg Config, topic, group string) (*Backlog, error) {
	adm := kadm.NewClient(cl)
	b := &Backlog{Topic: topic, Group: group, MeasuredAt: time.Now()}
	ends, err := EndOffsets(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	starts, err := StartOffsets(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	// A group that never committed has no offsets: Kafka answers with none,
	// some brokers (kfake) with GROUP_ID_NOT_FOUND. Either way, everything
	// from the log start waits.
	commits, err := FetchCommitted(ctx, adm, group)
	if err != nil && !errors.Is(err, kadm.ErrEmpty) && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("kafka: offsets of group %s: %w", group, err)
	}
	from := map[int32]kgo.Offset{}
	for p, end := range ends {
		pos := starts[p]
		if c, ok := commits.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 && c.At > pos {
			pos = c.At
		}
		if end > pos {
			b.Records += end - pos
			from[p] = kgo.NewOffset().At(pos)
		}
	}
	if len(from) == 0 {
		return b, nil
	}
	fc, err := kgo.NewClient(append(cfg.BaseOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxPartitionBytes(1<<16))...)
	if err != nil {
		return nil, err
	}
	defer fc.Close()
	seen := map[int32]bool{}
	for len(seen) < len(from) {
		fs := fc.PollRecords(ctx, len(from))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafka: read the oldest unprocessed records of %s: %w", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[r.Partition] {
				return
			}
			seen[r.Partition] = true
			if b.OldestAt.IsZero() || r.Timestamp.Before(b.OldestAt) {
				b.OldestAt = r.Timestamp
			}
			// One record per partition is all that is wanted.
			fc.PauseFetchPartitions(map[string][]int32{topic: {r.Partition}})
		})
	}
	return b, nil
}
