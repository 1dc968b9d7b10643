package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// DefaultIndexerGroup is the indexer's consumer group.
const DefaultIndexerGroup = "turnin-dlq-indexer"

// IndexerConfig configures the indexer.
type IndexerConfig struct {
	// Kafka is the client configuration; Topic is the main topic.
	Kafka kafka.Config
	// Group defaults to DefaultIndexerGroup.
	Group string
	// RetryDelays are the consumers' retry tier delays (their count is the
	// number of tiers), to tell when a retrying record is tried next.
	RetryDelays []time.Duration
}

// Indexer records every retry and dead-letter record in PostgreSQL,
// idempotently, and alerts on new dead letters. Its offsets are committed
// only after the index transaction committed.
type Indexer struct {
	cfg     IndexerConfig
	db      *pgxpool.Pool
	alerter *Alerter
	log     *slog.Logger
}

// NewIndexer builds an indexer; alerter may be nil (no alerts).
func NewIndexer(cfg IndexerConfig, db *pgxpool.Pool, alerter *Alerter, log *slog.Logger) *Indexer {
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if cfg.Group == "" {
		cfg.Group = DefaultIndexerGroup
	}
	return &Indexer{cfg: cfg, db: db, alerter: alerter, log: log.With("component", "dlq-indexer")}
}

// Topics are the topics the indexer reads.
func (ix *Indexer) Topics() []string {
	var ts []string
	for i := 1; i <= len(ix.cfg.RetryDelays); i++ {
		ts = append(ts, schema.RetryTopic(ix.cfg.Kafka.Topic, i))
	}
	return append(ts, schema.DeadLetterTopic(ix.cfg.Kafka.Topic))
}

// Run indexes until ctx ends.
func (ix *Indexer) Run(ctx context.Context) error {
	opts := append(ix.cfg.Kafka.BaseOpts(),
		kgo.ConsumerGroup(ix.cfg.Group),
		kgo.ConsumeTopics(ix.Topics()...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	defer func() {
		cl.AllowRebalance()
		cl.Close()
	}()
	bo := backoff.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}
	for {
		fetches := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			return nil
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		fs := make([]pgstore.Failure, len(recs))
		for i, r := range recs {
			fs[i] = ix.failure(r)
		}
		fresh, err := pgstore.IndexFailures(ctx, ix.db, fs)
		if err == nil {
			err = cl.CommitRecords(ctx, recs...)
			if err != nil {
				ix.log.Warn("offset commit failed; the records will be indexed again, idempotently", "err", err)
				err = nil
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := bo.Next()
			ix.log.Warn("index write failed; nothing committed, backing off", "records", len(recs), "backoff", wait, "err", err)
			kafka.Rewind(cl, recs)
			cl.AllowRebalance()
			if !backoff.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		bo.Reset()
		cl.AllowRebalance()
		if ix.alerter != nil {
			ix.alerter.Notify(ctx, fresh)
		}
	}
}

// failure reads a retry or dead-letter record.
func (ix *Indexer) failure(r *kgo.Record) pgstore.Failure {
	f := pgstore.Failure{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value,
		State: pgstore.FailureDeadLettered, LastFailureAt: r.Timestamp.UTC(), OriginPartition: -1, OriginOffset: -1}
	for _, h := range r.Headers {
		f.Headers = append(f.Headers, pgstore.Header{Key: h.Key, Value: h.Value})
		v := string(h.Value)
		switch h.Key {
		case schema.HeaderErrorClass:
			f.ErrorClass = v
		case schema.HeaderErrorMessage:
			f.ErrorMsg = v
		case schema.HeaderAttempt:
			f.Attempt, _ = strconv.Atoi(v)
		case schema.HeaderFirstFailureAt:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				f.FirstFailureAt = &t
			}
		case schema.HeaderLastFailureAt:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				f.LastFailureAt = t
			}
		case schema.HeaderOriginTopic:
			f.OriginTopic = v
		case schema.HeaderOriginPart:
			if n, err := strconv.Atoi(v); err == nil {
				f.OriginPartition = int32(n)
			}
		case schema.HeaderOriginOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				f.OriginOffset = n
			}
		case schema.HeaderOriginGroup:
			f.OriginGroup = v
		}
	}
	if f.ErrorClass == "" {
		f.ErrorClass = string(schema.ClassUnclassified)
	}
	for i := 1; i <= len(ix.cfg.RetryDelays); i++ {
		if r.Topic == schema.RetryTopic(ix.cfg.Kafka.Topic, i) {
			next := f.LastFailureAt.Add(ix.cfg.RetryDelays[i-1])
			f.State, f.NextAttemptAt = pgstore.FailureRetrying, &next
		}
	}
	if ev, err := schema.DecodeSubmission(r.Value); err == nil {
		f.TenantID, f.ReceiptID, f.AssignmentID, f.StudentID = ev.TenantID, ev.ReceiptID, ev.AssignmentID, ev.StudentID
	}
	return f
}
