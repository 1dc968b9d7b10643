package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/schema"
)

type consumerOpts struct {
	group          string
	batch, maxTx   int
	rate           float64
	verifyFraction float64
	webhookURL     string
	webhookTimeout time.Duration
	retryDelays    string
	tier           string
	permanent      string
	retryable      string
	sessionTimeout time.Duration
	rebalance      time.Duration
	batchTimeout   time.Duration
}

func (o *consumerOpts) register(f *flags) {
	f.String(&o.group, "group", "TURNIN_CONSUMER_GROUP", consumer.DefaultGroup, "consumer group")
	f.Int(&o.batch, "batch-size", "TURNIN_BATCH_SIZE", consumer.DefaultBatchSize, "records processed and committed together")
	f.Int(&o.maxTx, "max-concurrent-tx", "TURNIN_MAX_CONCURRENT_TX", consumer.DefaultMaxConcurrentTx, "database transactions one batch runs at once")
	f.Float64(&o.rate, "rate-limit", "TURNIN_RATE_LIMIT", 0, "cap on submissions processed per second (0: uncapped)")
	f.Float64(&o.verifyFraction, "verify-fraction", "TURNIN_VERIFY_FRACTION", 1, "share of submissions whose stored object is streamed and its SHA-256 checked (0 turns it off)")
	f.String(&o.webhookURL, "webhook-url", "TURNIN_WEBHOOK_URL", "", "POST each submission to this URL before recording it (optional)")
	f.Duration(&o.webhookTimeout, "webhook-timeout", "TURNIN_WEBHOOK_TIMEOUT", 10*time.Second, "timeout of one webhook call")
	f.String(&o.retryDelays, "retry-delays", "TURNIN_RETRY_DELAYS", "5s,1m,10m", "delays of the retry tiers, tier 1 first; their count is the number of tiers (empty: failures are dead-lettered at once)")
	f.String(&o.permanent, "permanent-classes", "TURNIN_PERMANENT_CLASSES", "", "error classes to dead-letter at once, overriding their classification (comma-separated)")
	f.String(&o.retryable, "retryable-classes", "TURNIN_RETRYABLE_CLASSES", "", "error classes to send through the retry tiers, overriding their classification (comma-separated)")
	f.Duration(&o.sessionTimeout, "session-timeout", "TURNIN_CONSUMER_SESSION_TIMEOUT", 45*time.Second, "how long the group waits for a crashed member before reassigning its partitions (brokers allow 6s at the least)")
	f.Duration(&o.rebalance, "rebalance-timeout", "TURNIN_CONSUMER_REBALANCE_TIMEOUT", time.Minute, "how long a rebalance waits for members to rejoin; must exceed --batch-timeout")
	f.Duration(&o.batchTimeout, "batch-timeout", "TURNIN_BATCH_TIMEOUT", consumer.DefaultTxTimeout, "longest one batch may take (verification, webhook, database) before it is abandoned and retried")
	f.String(&o.tier, "tier", "TURNIN_CONSUMER_TIER", "all", "what this process drains: all (the main topic and every retry tier), main, or a tier number")
}

// delays parses --retry-delays.
func (o *consumerOpts) delays() ([]time.Duration, error) {
	out := []time.Duration{}
	for _, s := range splitList(o.retryDelays) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--retry-delays: %q is not a positive duration", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// consumers builds the consumers --tier asks for.
func (o *consumerOpts) consumers(cfg consumer.Config, deps consumer.Deps, producer *kgo.Client) ([]*consumer.Consumer, error) {
	all, err := consumer.Tiers(cfg, deps, producer)
	if err != nil {
		return nil, err
	}
	switch o.tier {
	case "all":
		return all, nil
	case "main":
		return all[:1], nil
	}
	n, err := strconv.Atoi(o.tier)
	if err != nil || n < 1 || n >= len(all) {
		return nil, fmt.Errorf("--tier: %q is not all, main, or a tier from 1 to %d", o.tier, len(all)-1)
	}
	return all[n : n+1], nil
}

func (o *consumerOpts) config(k kafka.Config) (consumer.Config, error) {
	delays, err := o.delays()
	if err != nil {
		return consumer.Config{}, err
	}
	c := consumer.Config{Kafka: k, Group: o.group, BatchSize: o.batch, MaxConcurrentTx: o.maxTx, RateLimit: o.rate, RetryDelays: delays,
		SessionTimeout: o.sessionTimeout, RebalanceTimeout: o.rebalance, TxTimeout: o.batchTimeout}
	for _, cl := range splitList(o.permanent) {
		if c.Permanent == nil {
			c.Permanent = map[schema.ErrorClass]bool{}
		}
		c.Permanent[schema.ErrorClass(cl)] = true
	}
	for _, cl := range splitList(o.retryable) {
		if c.Permanent == nil {
			c.Permanent = map[schema.ErrorClass]bool{}
		}
		if c.Permanent[schema.ErrorClass(cl)] {
			return c, fmt.Errorf("error class %q is both permanent and retryable", cl)
		}
		c.Permanent[schema.ErrorClass(cl)] = false
	}
	if o.webhookURL != "" {
		c.Steps = append(c.Steps, &consumer.WebhookStep{URL: o.webhookURL, Timeout: o.webhookTimeout, Concurrency: 16})
	}
	return c, nil
}

func runConsumer(ctx context.Context, args []string, _ io.Writer) error {
	f := newFlags("consumer", "Consumes the submissions topic into PostgreSQL: verify the object, optional webhook,\nrecord (batched, idempotent), then commit offsets. Failures are dead-lettered.")
	var (
		lo logOpts
		db dbOpts
		ko kafkaOpts
		so s3Opts
		co consumerOpts
	)
	lo.register(f)
	db.register(f)
	ko.register(f, true)
	so.register(f, true)
	co.register(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	b, err := connect(ctx, &lo, &db, &ko)
	if err != nil {
		return err
	}
	defer b.close()
	logStart(b.log)
	log, kcfg, pool, producer := b.log, b.kcfg, b.pool, b.producer
	ccfg, err := co.config(kcfg)
	if err != nil {
		return err
	}
	if ccfg.Faults, err = faultsFromEnv(log); err != nil {
		return err
	}
	if co.verifyFraction > 0 {
		store, err := objstore.New(so.config())
		if err != nil {
			return err
		}
		ccfg.Steps = append([]consumer.Step{&consumer.VerifyStep{Store: store, Fraction: co.verifyFraction, Concurrency: 8}}, ccfg.Steps...)
	}
	if err := kafka.EnsureTopics(ctx, producer, kcfg, kafka.Topics(kcfg.Topic, len(ccfg.RetryDelays))...); err != nil {
		log.Warn("could not ensure the retry topics; assuming they exist", "err", err)
	}
	cs, err := co.consumers(ccfg, consumer.Deps{DB: pool, Logger: log}, producer)
	if err != nil {
		return err
	}
	log.Info("consumer starting", "topic", kcfg.Topic, "group", ccfg.WithDefaults().Group, "tier", co.tier,
		"retry_delays", ccfg.WithDefaults().RetryDelays, "brokers", kcfg.Brokers)
	return consumer.RunAll(ctx, cs...)
}
