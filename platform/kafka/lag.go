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
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka: start offsets of %s: %w", topic, err)
	}
	// A group that never committed has no offsets: Kafka answers with none,
	// some brokers (kfake) with GROUP_ID_NOT_FOUND. Either way, everything
	// from the log start waits.
	commits, err := fetchOffsets(ctx, adm, group)
	if err != nil && !errors.Is(err, kadm.ErrEmpty) && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("kafka: offsets of group %s: %w", group, err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(end kadm.ListedOffset) {
		pos := int64(0)
		if s, ok := starts.Lookup(topic, end.Partition); ok && s.Err == nil {
			pos = s.Offset
		}
		if c, ok := commits.Lookup(topic, end.Partition); ok && c.Err == nil && c.At >= 0 && c.At > pos {
			pos = c.At
		}
		if end.Offset > pos {
			b.Records += end.Offset - pos
			from[end.Partition] = kgo.NewOffset().At(pos)
		}
	})
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

// fetchOffsets fetches a group's committed offsets, waiting out the
// retriable errors a coordinator gives while it loads or moves (a fresh
// cluster answers COORDINATOR_NOT_AVAILABLE until its offsets topic exists).
func fetchOffsets(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	wait := 50 * time.Millisecond
	for {
		commits, err := adm.FetchOffsets(ctx, group)
		if err == nil || !kerr.IsRetriable(err) || wait > 2*time.Second {
			return commits, err
		}
		select {
		case <-ctx.Done():
			return commits, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
