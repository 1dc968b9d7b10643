package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/kafka"
)

// HeaderReplayOf names, on a copied record, the record it copies.
const HeaderReplayOf = "turnin-replay-of"

// ReplayConfig is one replay: re-read Topic from Since (or Offsets) either
// by moving one consumer group's committed offsets back, or by copying the
// records to another topic at a capped rate. Processing replayed records
// changes nothing: every write downstream is idempotent.
type ReplayConfig struct {
	Kafka kafka.Config
	// Topic to re-read. Defaults to Kafka.Topic.
	Topic string
	// Since is the time to re-read from; Offsets, when set, gives the
	// starting offset per partition instead.
	Since   time.Time
	Offsets map[int32]int64
	// Group, when set, is the one group whose committed offsets move back.
	// It must have no active members: stop its consumers first.
	Group string
	// ToTopic, when set instead, receives copies of the records.
	ToTopic string
	// Rate caps copied records per second; 0 means uncapped.
	Rate float64
	// DryRun says what would be replayed and changes nothing.
	DryRun bool
	// Progress, when set, is called as records are copied.
	Progress func(done, total int64)
}

// ReplayResult says what a replay covered.
type ReplayResult struct {
	From, To map[int32]int64 // per partition: first offset replayed, end offset
	Records  int64           // records in the range
	Copied   int64           // records copied (ToTopic)
}

// Replay runs one replay.
func Replay(ctx context.Context, cfg ReplayConfig) (*ReplayResult, error) {
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if cfg.Topic == "" {
		cfg.Topic = cfg.Kafka.Topic
	}
	if (cfg.Group == "") == (cfg.ToTopic == "") {
		return nil, errors.New("dlq: replay needs exactly one of a group (to move back) or a target topic (to copy into)")
	}
	cl, err := kgo.NewClient(cfg.Kafka.BaseOpts()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := kafka.EndOffsets(ctx, adm, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	res := &ReplayResult{From: map[int32]int64{}, To: ends}
	if cfg.Offsets != nil {
		for p, o := range cfg.Offsets {
			if _, ok := res.To[p]; !ok {
				return nil, fmt.Errorf("replay: %s has no partition %d", cfg.Topic, p)
			}
			res.From[p] = o
		}
	} else {
		if res.From, err = kafka.OffsetsAfter(ctx, adm, cfg.Topic, cfg.Since); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	for p, from := range res.From {
		if to := res.To[p]; to > from {
			res.Records += to - from
		} else {
			delete(res.From, p)
		}
	}
	if cfg.DryRun || res.Records == 0 {
		return res, nil
	}
	if cfg.Group != "" {
		return res, moveGroup(ctx, adm, cfg, res)
	}
	return res, copyRange(ctx, cfg, res)
}

func moveGroup(ctx context.Context, adm *kadm.Client, cfg ReplayConfig, res *ReplayResult) error {
	groups, err := adm.DescribeGroups(ctx, cfg.Group)
	if err != nil {
		return fmt.Errorf("replay: describe %s: %w", cfg.Group, err)
	}
	if g, ok := groups[cfg.Group]; ok && len(g.Members) > 0 {
		return fmt.Errorf("replay: group %s has %d active member(s); stop its consumers first", cfg.Group, len(g.Members))
	}
	os := kadm.Offsets{}
	for p, from := range res.From {
		os.Add(kadm.Offset{Topic: cfg.Topic, Partition: p, At: from, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctx, cfg.Group, os)
	if err != nil {
		return fmt.Errorf("replay: move %s back: %w", cfg.Group, err)
	}
	return resp.Error()
}

func copyRange(ctx context.Context, cfg ReplayConfig, res *ReplayResult) error {
	from := map[int32]kgo.Offset{}
	for p, o := range res.From {
		from[p] = kgo.NewOffset().At(o)
	}
	rd, err := kgo.NewClient(append(cfg.Kafka.BaseOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: from}))...)
	if err != nil {
		return err
	}
	defer rd.Close()
	w, err := kafka.NewProducer(cfg.Kafka)
	if err != nil {
		return err
	}
	defer w.Close()
	var gap time.Duration
	if cfg.Rate > 0 {
		gap = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
	left := len(res.From)
	for left > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range fs.Records() {
			end := res.To[r.Partition]
			if r.Offset >= end {
				continue
			}
			if gap > 0 {
				if d := time.Until(next); d > 0 && !backoff.Sleep(ctx, d) {
					return ctx.Err()
				}
				next = next.Add(gap)
			}
			cp := &kgo.Record{Topic: cfg.ToTopic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
				Headers: append(append([]kgo.RecordHeader(nil), r.Headers...), kgo.RecordHeader{
					Key: HeaderReplayOf, Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10))})}
			if err := w.ProduceSync(ctx, cp).FirstErr(); err != nil {
				return fmt.Errorf("replay: copy %s/%d/%d: %w (copied %d)", r.Topic, r.Partition, r.Offset, err, res.Copied)
			}
			res.Copied++
			if cfg.Progress != nil && (res.Copied%1000 == 0 || res.Copied == res.Records) {
				cfg.Progress(res.Copied, res.Records)
			}
			if r.Offset == end-1 {
				left--
			}
		}
	}
	return nil
}
