package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// retryFor bounds how long the offset helpers wait out retriable errors.
// A partition is without a leader for a few seconds after a topic is
// created or a broker dies (until the controller fences it: 9 s by
// default); an unknown topic answers with a retriable error too, and must
// not make a command hang.
const retryFor = 20 * time.Second

// EndOffsets returns the end offset (the next offset to be written) of
// every partition of topic.
//
// kadm reports a partition it could not list with an error and offset -1
// beside the ones it could. Summing or comparing such an answer silently
// skips records, so these helpers wait out retriable errors (no leader
// yet, leader moved, metadata not propagated) and otherwise fail: an
// answer has an offset for every partition or is an error.
func EndOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "end", topic, adm.ListEndOffsets)
}

// StartOffsets returns the log start offset of every partition of topic.
func StartOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "start", topic, adm.ListStartOffsets)
}

// OffsetsAfter returns, for every partition of topic, the offset of the
// first record stamped at or after at, or the end offset where there is
// none.
func OffsetsAfter(ctx context.Context, adm *kadm.Client, topic string, at time.Time) (map[int32]int64, error) {
	return listOffsets(ctx, "after "+at.Format(time.RFC3339), topic, func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topics...)
	})
}

func listOffsets(ctx context.Context, what, topic string, list func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	var out map[int32]int64
	err := retrying(ctx, func() error {
		listed, err := list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return err
		}
		out = map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		if len(out) == 0 {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: %s offsets of %s: %w", what, topic, err)
	}
	return out, nil
}

// FetchCommitted fetches a group's committed offsets, waiting out the
// retriable errors a coordinator gives while it loads or moves (a fresh
// cluster answers COORDINATOR_NOT_AVAILABLE until its offsets topic exists).
func FetchCommitted(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	var commits kadm.OffsetResponses
	err := retrying(ctx, func() error {
		var err error
		commits, err = adm.FetchOffsets(ctx, group)
		return err
	})
	return commits, err
}

// retrying calls f until it succeeds, fails with an error that is not
// retriable, ctx ends or retryFor has passed, backing off from 50 ms.
func retrying(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(retryFor)
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil || !kerr.IsRetriable(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
