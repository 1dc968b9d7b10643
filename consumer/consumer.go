package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/schema"
)

// Defaults for Config.
const (
	DefaultGroup           = "turnin-consumer"
	DefaultBatchSize       = 1000
	DefaultMaxConcurrentTx = 2
	DefaultBackoffMin      = 200 * time.Millisecond
	DefaultBackoffMax      = 10 * time.Second
	DefaultTxTimeout       = 30 * time.Second
)

// DefaultRetryDelays are the retry tiers' delays: a failure is tried again
// after 5 seconds, then a minute, then 10 minutes, then dead-lettered.
var DefaultRetryDelays = []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute}

// Config configures a consumer. Zero fields take their defaults.
type Config struct {
	// Kafka is the client configuration; Topic is the topic consumed.
	Kafka kafka.Config
	// Group is the consumer group. Defaults to "turnin-consumer".
	Group string
	// BatchSize bounds the records polled and processed at once.
	// Defaults to 1000.
	BatchSize int
	// MaxConcurrentTx bounds the database transactions one batch runs at
	// once. Defaults to 2.
	MaxConcurrentTx int
	// RateLimit caps submissions processed per second; 0 means uncapped.
	RateLimit float64
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// after an infrastructure failure. Default to 200ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// TxTimeout bounds one batch's processing; it must stay well under the
	// group's rebalance timeout (60s). Defaults to 30s.
	TxTimeout time.Duration
	// Steps run before the record step, in order (verify, webhook, …).
	Steps []Step
	// RetryDelays are the retry tiers' delays, tier 1 first; their count is
	// the number of tiers. Defaults to DefaultRetryDelays.
	RetryDelays []time.Duration
	// Permanent overrides, per error class, whether failures are permanent
	// (dead-lettered at once) or retryable (through the tiers). Defaults to
	// each step's own classification.
	Permanent map[schema.ErrorClass]bool
	// Tier is the retry tier this consumer drains, 1-based; 0, the default,
	// drains the main topic. A tier consumer processes a record only once
	// its delay has passed since the failure that sent it there.
	Tier int
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crashed process) before giving its partitions to
	// others. Defaults to franz-go's 45s; brokers accept 6s at the least.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds how long a rebalance waits for every member
	// to rejoin; some brokers wait that long for a crashed member. A
	// member rejoins only between batches, so it must exceed TxTimeout.
	// Defaults to franz-go's 60s.
	RebalanceTimeout time.Duration
	// Faults are crash points for fault-injection tests; zero in production.
	Faults Faults
}

// Faults are points where a fault-injection test may crash a real consumer
// process (the e2e suite's consumers SIGKILL themselves there). Each, when
// set, is called at its point on every batch.
type Faults struct {
	// BeforeRecord runs after the batch's earlier steps, before its
	// database transactions begin.
	BeforeRecord func()
	// BeforeOffsetCommit runs after the database commit and after failed
	// records are acknowledged by their topic, before the offsets are
	// committed.
	BeforeOffsetCommit func()
}

// Topic is the topic this consumer drains.
func (c Config) Topic() string {
	if c.Tier == 0 {
		return c.Kafka.Topic
	}
	return schema.RetryTopic(c.Kafka.Topic, c.Tier)
}

// GroupID is the consumer group this consumer joins: Group for the main
// topic, Group + ".retry.N" for tier N.
func (c Config) GroupID() string {
	if c.Tier == 0 {
		return c.Group
	}
	return c.Group + ".retry." + strconv.Itoa(c.Tier)
}

// Delay is how long a record waits in this consumer's tier (0 for the main topic).
func (c Config) Delay() time.Duration {
	if c.Tier == 0 {
		return 0
	}
	return c.RetryDelays[c.Tier-1]
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.Kafka = c.Kafka.WithDefaults()
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxConcurrentTx == 0 {
		c.MaxConcurrentTx = DefaultMaxConcurrentTx
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.TxTimeout == 0 {
		c.TxTimeout = DefaultTxTimeout
	}
	if c.RetryDelays == nil {
		c.RetryDelays = append([]time.Duration(nil), DefaultRetryDelays...)
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return errors.New("consumer: BatchSize: between 1 and 10000")
	case c.MaxConcurrentTx < 1:
		return errors.New("consumer: MaxConcurrentTx: must be positive")
	case c.RateLimit < 0:
		return errors.New("consumer: RateLimit: must not be negative")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return errors.New("consumer: BackoffMin and BackoffMax: 0 < min <= max")
	case c.TxTimeout <= 0:
		return errors.New("consumer: TxTimeout: must be positive")
	case c.SessionTimeout < 0:
		return errors.New("consumer: SessionTimeout: must not be negative")
	case c.RebalanceTimeout < 0 || (c.RebalanceTimeout > 0 && c.RebalanceTimeout <= c.TxTimeout):
		return fmt.Errorf("consumer: RebalanceTimeout: %v must exceed TxTimeout (%v): members rejoin only between batches", c.RebalanceTimeout, c.TxTimeout)
	case c.Tier < 0 || c.Tier > len(c.RetryDelays):
		return fmt.Errorf("consumer: Tier: %d, but there are %d retry tiers", c.Tier, len(c.RetryDelays))
	}
	for i, d := range c.RetryDelays {
		if d <= 0 {
			return fmt.Errorf("consumer: RetryDelays[%d]: must be positive", i)
		}
	}
	return c.Kafka.Validate()
}

// Deps are the parts a consumer runs on.
type Deps struct {
	DB *pgxpool.Pool
	// Router takes failed items; nil fails any batch that has one (and so
	// never commits past it).
	Router   FailureRouter
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Consumer drains the submissions topic into PostgreSQL.
type Consumer struct {
	cfg     Config
	db      *pgxpool.Pool
	router  FailureRouter
	log     *slog.Logger
	steps   []Step
	record  *recordStep
	limit   *limiter
	metrics *metrics

	// Test hooks: a non-nil error returned ends Run at once, as a crash
	// at that point would: nothing after it happens.
	beforeRecord       func() error
	beforeOffsetCommit func(recs []*kgo.Record) error
	// observeGate, when set (benchmarks), also gets each gate lateness.
	observeGate func(time.Duration)
}

// New builds a consumer.
func New(cfg Config, deps Deps) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil {
		return nil, errors.New("consumer: DB is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	c := &Consumer{
		cfg: cfg, db: deps.DB, router: deps.Router, log: deps.Logger.With("component", "consumer", "group", cfg.GroupID()),
		record: &recordStep{db: deps.DB, maxTx: cfg.MaxConcurrentTx},
	}
	c.steps = append(append([]Step{}, cfg.Steps...), c.record)
	if cfg.RateLimit > 0 {
		c.limit = newLimiter(cfg.RateLimit, cfg.BatchSize)
	}
	c.metrics = newMetrics(deps.Registry)
	return c, nil
}

// errCrash is returned by a test hook to end Run as a crash would.
var errCrash = errors.New("consumer: simulated crash")

// Run consumes until ctx ends, then finishes or abandons the batch in
// hand, commits what committed, and leaves the group.
func (c *Consumer) Run(ctx context.Context) error {
	opts := append(c.cfg.Kafka.BaseOpts(),
		kgo.ConsumerGroup(c.cfg.GroupID()),
		kgo.ConsumeTopics(c.cfg.Topic()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("partitions assigned", "partitions", m)
		}),
		// Revocation runs only between batches (BlockRebalanceOnPoll), after
		// the last batch was committed: there is no in-flight work to finish.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("partitions revoked", "partitions", m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Warn("partitions lost; their uncommitted records will be redelivered", "partitions", m)
		}),
	)
	if c.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.cfg.SessionTimeout))
	}
	if c.cfg.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.cfg.RebalanceTimeout))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	gate := newGate(cl, c.cfg.Delay(), func(late time.Duration) {
		c.metrics.gateLateness.Observe(late.Seconds())
		if c.observeGate != nil {
			c.observeGate(late)
		}
	})
	defer func() {
		gate.stop()
		cl.AllowRebalance() // Close leaves the group, which waits on a blocked rebalance
		cl.Close()
	}()

	bo := backoff.Backoff{Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax}
	for {
		fetches := cl.PollRecords(ctx, c.cfg.BatchSize)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			c.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		recs := gate.due(fetches.Records())
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		err := c.handle(ctx, cl, recs)
		switch {
		case errors.Is(err, errCrash):
			return err
		case err == nil:
			bo.Reset()
		case ctx.Err() != nil:
			// Shutting down mid-batch: abandon it uncommitted; the next
			// owner of these partitions processes it (idempotently).
			cl.AllowRebalance()
			return nil
		default:
			c.metrics.backoffs.Inc()
			wait := bo.Next()
			c.log.Warn("batch failed; nothing committed, backing off", "records", len(recs), "backoff", wait, "err", err)
			kafka.Rewind(cl, recs)
			cl.AllowRebalance()
			if !backoff.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		cl.AllowRebalance()
	}
}

// handle processes one batch and commits it; any error means nothing of
// the batch was committed.
func (c *Consumer) handle(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	start := time.Now()
	if c.limit != nil {
		if err := c.limit.wait(ctx, len(recs)); err != nil {
			return err
		}
	}
	items := decode(recs)
	bctx, cancel := context.WithTimeout(ctx, c.cfg.TxTimeout)
	defer cancel()
	for _, s := range c.steps {
		if s == Step(c.record) {
			if f := c.cfg.Faults.BeforeRecord; f != nil {
				f()
			}
			if c.beforeRecord != nil {
				if err := c.beforeRecord(); err != nil {
					return err
				}
			}
		}
		if err := s.Process(bctx, alive(items)); err != nil {
			return fmt.Errorf("step %s: %w", s.Name(), err)
		}
	}
	var failed []*Item
	for _, it := range items {
		if it.Err != nil {
			failed = append(failed, it)
		}
	}
	if len(failed) > 0 {
		if c.router == nil {
			return errNoRouter
		}
		if err := c.router.Route(bctx, failed); err != nil {
			return fmt.Errorf("route %d failed records: %w", len(failed), err)
		}
		for _, it := range failed {
			f := FailureOf(it.Err)
			c.metrics.records.WithLabelValues("failed_" + string(f.Class)).Inc()
			c.log.Warn("record failed", "class", f.Class, "permanent", f.Permanent,
				"topic", it.Record.Topic, "partition", it.Record.Partition, "offset", it.Record.Offset, "err", f.Err)
		}
	}
	if f := c.cfg.Faults.BeforeOffsetCommit; f != nil {
		f()
	}
	if c.beforeOffsetCommit != nil {
		if err := c.beforeOffsetCommit(recs); err != nil {
			return err
		}
	}
	// The work is durable (database committed, failures acknowledged by
	// their topic): now, and only now, the offsets.
	if err := cl.CommitRecords(bctx, recs...); err != nil {
		// Not committed: the records will be redelivered and found done.
		c.log.Warn("offset commit failed; records will be redelivered and skipped as duplicates", "err", err)
	}
	for _, it := range items {
		if it.Err == nil {
			c.metrics.records.WithLabelValues(it.Outcome.String()).Inc()
		}
	}
	c.metrics.batch.Observe(time.Since(start).Seconds())
	return nil
}

// decode decodes and validates a batch, spread over the processors: JSON
// decoding is most of a consumer's own CPU.
func decode(recs []*kgo.Record) []*Item {
	items := make([]*Item, len(recs))
	chunk := max(64, (len(recs)+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for lo := 0; lo < len(recs); lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				items[i] = decodeOne(recs[i])
			}
		}(lo, min(lo+chunk, len(recs)))
	}
	wg.Wait()
	return items
}

func decodeOne(r *kgo.Record) *Item {
	it := &Item{Record: r}
	ev, err := schema.DecodeSubmission(r.Value)
	switch {
	case errors.Is(err, schema.ErrUnsupportedVersion):
		it.Err = Permanent(schema.ClassUnsupportedSchema, err)
	case err != nil:
		it.Err = Permanent(schema.ClassInvalidPayload, err)
	default:
		it.Event = ev
	}
	return it
}

func alive(items []*Item) []*Item {
	out := make([]*Item, 0, len(items))
	for _, it := range items {
		if it.Err == nil {
			out = append(out, it)
		}
	}
	return out
}

// Tiers returns one consumer for the main topic and one for each retry tier
// of cfg (cfg.Tier is ignored), all routing failures through one
// TieredRouter on producer.
func Tiers(cfg Config, deps Deps, producer *kgo.Client) ([]*Consumer, error) {
	cfg = cfg.WithDefaults()
	var out []*Consumer
	for tier := 0; tier <= len(cfg.RetryDelays); tier++ {
		c := cfg
		c.Tier = tier
		d := deps
		d.Router = &TieredRouter{Producer: producer, Topic: cfg.Kafka.Topic, Tiers: len(cfg.RetryDelays), Group: c.GroupID(),
			Permanent: cfg.Permanent}
		cons, err := New(c, d)
		if err != nil {
			return nil, err
		}
		out = append(out, cons)
	}
	return out, nil
}

// RunAll runs consumers until ctx ends or one of them fails, which stops
// the others; it returns once all have returned.
func RunAll(ctx context.Context, cs ...*Consumer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(cs))
	for _, c := range cs {
		go func() {
			err := c.Run(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range cs {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
