// Package kafka holds turnin's franz-go client settings and topic
// administration. Every client turnin makes is built from Config here, so
// durability settings cannot drift between programs.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/schema"
)

// Defaults for Config.
const (
	DefaultProduceTimeout     = 5 * time.Second
	DefaultDeliveryTimeout    = 30 * time.Second
	DefaultMaxBufferedRecords = 16384
	DefaultLinger             = 0
	DefaultPartitions         = 12
	DefaultReplicationFactor  = 3
	DefaultMinInsyncReplicas  = 2
)

// Config configures a Kafka client.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the main submissions topic. Defaults to schema.DefaultTopic.
	Topic string
	// ClientID identifies the program to the brokers. Defaults to "turnin".
	ClientID string
	// ProduceTimeout bounds how long an accepting request waits for the
	// broker's acknowledgement before answering 503. Defaults to 5s.
	ProduceTimeout time.Duration
	// DeliveryTimeout bounds how long the client keeps retrying a record it
	// has buffered. It must exceed ProduceTimeout. Defaults to 30s.
	DeliveryTimeout time.Duration
	// MaxBufferedRecords bounds the records buffered in the producer; past
	// it, accepting answers 503 at once instead of growing memory.
	// Defaults to 16384.
	MaxBufferedRecords int
	// Linger is how long a partition waits for more records before sending
	// a batch. Batching happens anyway while a request is in flight. Defaults to 0.
	Linger time.Duration
	// Partitions is the partition count used when turnin creates its topics.
	// Defaults to 12.
	Partitions int32
	// ReplicationFactor is used when turnin creates its topics; it is capped
	// at the number of brokers. Defaults to 3.
	ReplicationFactor int16
	// Logger receives the client's warnings and errors. Defaults to slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = schema.DefaultTopic
	}
	if c.ClientID == "" {
		c.ClientID = "turnin"
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka: Brokers: at least one seed broker is required")
	case c.ProduceTimeout < 0:
		return errors.New("kafka: ProduceTimeout: must not be negative")
	case c.DeliveryTimeout <= c.ProduceTimeout:
		return errors.New("kafka: DeliveryTimeout: must exceed ProduceTimeout, or a record could be retried after its request was answered")
	case c.MaxBufferedRecords < 1:
		return errors.New("kafka: MaxBufferedRecords: must be positive")
	case c.Partitions < 1:
		return errors.New("kafka: Partitions: must be positive")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kafka: Brokers: %q is not host:port", b)
		}
	}
	return nil
}

// ProducerOpts are the options of every turnin producer: acks from all
// in-sync replicas, the idempotent producer (franz-go's default, kept on
// explicitly by not disabling it), a bounded buffer and a delivery timeout.
func (c Config) ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(c.MaxBufferedRecords),
		kgo.RecordDeliveryTimeout(c.DeliveryTimeout),
		kgo.ProducerLinger(c.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
}

// BaseOpts are the options every client shares.
func (c Config) BaseOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.WithLogger(slogLogger{c.Logger}),
	}
}

// NewProducer returns a client configured to produce submission events.
func NewProducer(c Config, extra ...kgo.Opt) (*kgo.Client, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := append(c.BaseOpts(), c.ProducerOpts()...)
	return kgo.NewClient(append(opts, extra...)...)
}

// Topics returns the names of turnin's topics for base: the main topic,
// retryTiers retry topics, and the dead-letter topic.
func Topics(base string, retryTiers int) []string {
	out := []string{base}
	for i := 1; i <= retryTiers; i++ {
		out = append(out, schema.RetryTopic(base, i))
	}
	return append(out, schema.DeadLetterTopic(base))
}

// EnsureTopics creates the topics that do not exist yet, with the
// configured partition count, replication capped at the broker count,
// min.insync.replicas 2 where there are at least 3 replicas, and unclean
// leader election off. Existing topics are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, c Config, topics ...string) error {
	c = c.WithDefaults()
	adm := kadm.NewClient(cl)
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("kafka: list brokers: %w", err)
	}
	rf := c.ReplicationFactor
	if n := int16(len(brokers)); n > 0 && rf > n {
		rf = n
	}
	configs := map[string]*string{"unclean.leader.election.enable": ptr("false")}
	if rf >= 3 {
		configs["min.insync.replicas"] = ptr(fmt.Sprint(DefaultMinInsyncReplicas))
	}
	resp, err := adm.CreateTopics(ctx, c.Partitions, rf, configs, topics...)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// slogLogger adapts slog to franz-go's logger, at info level and above.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelDebug:
		lv = slog.LevelDebug
	}
	s.l.Log(context.Background(), lv, msg, append([]any{"component", "kafka"}, keyvals...)...)
}

// Rewind sets each partition of recs back to its first record among them,
// so the next poll returns them again. Call it from the polling goroutine
// before AllowRebalance (franz-go's rule for SetOffsets in a group).
func Rewind(cl *kgo.Client, recs []*kgo.Record) {
	first := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		ps := first[r.Topic]
		if ps == nil {
			ps = map[int32]kgo.EpochOffset{}
			first[r.Topic] = ps
		}
		if eo, ok := ps[r.Partition]; !ok || r.Offset < eo.Offset {
			ps[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
	}
	cl.SetOffsets(first)
}
