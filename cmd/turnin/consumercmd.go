package main

import (
	"context"
	"io"
	"time"

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
}

func (o *consumerOpts) register(f *flags) {
	f.String(&o.group, "group", "TURNIN_CONSUMER_GROUP", consumer.DefaultGroup, "consumer group")
	f.Int(&o.batch, "batch-size", "TURNIN_BATCH_SIZE", consumer.DefaultBatchSize, "records processed and committed together")
	f.Int(&o.maxTx, "max-concurrent-tx", "TURNIN_MAX_CONCURRENT_TX", consumer.DefaultMaxConcurrentTx, "database transactions one batch runs at once")
	f.Float64(&o.rate, "rate-limit", "TURNIN_RATE_LIMIT", 0, "cap on submissions processed per second (0: uncapped)")
	f.Float64(&o.verifyFraction, "verify-fraction", "TURNIN_VERIFY_FRACTION", 1, "share of submissions whose stored object is streamed and its SHA-256 checked (0 turns it off)")
	f.String(&o.webhookURL, "webhook-url", "TURNIN_WEBHOOK_URL", "", "POST each submission to this URL before recording it (optional)")
	f.Duration(&o.webhookTimeout, "webhook-timeout", "TURNIN_WEBHOOK_TIMEOUT", 10*time.Second, "timeout of one webhook call")
}

func (o *consumerOpts) config(k kafka.Config) consumer.Config {
	c := consumer.Config{Kafka: k, Group: o.group, BatchSize: o.batch, MaxConcurrentTx: o.maxTx, RateLimit: o.rate}
	if o.webhookURL != "" {
		c.Steps = append(c.Steps, &consumer.WebhookStep{URL: o.webhookURL, Timeout: o.webhookTimeout, Concurrency: 16})
	}
	return c
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
	log, kcfg, pool, producer := b.log, b.kcfg, b.pool, b.producer
	ccfg := co.config(kcfg)
	if co.verifyFraction > 0 {
		store, err := objstore.New(so.config())
		if err != nil {
			return err
		}
		ccfg.Steps = append([]consumer.Step{&consumer.VerifyStep{Store: store, Fraction: co.verifyFraction, Concurrency: 8}}, ccfg.Steps...)
	}
	c, err := consumer.New(ccfg, consumer.Deps{DB: pool, Logger: log, Router: &consumer.DeadLetterRouter{
		Producer: producer, Topic: schema.DeadLetterTopic(kcfg.Topic), Group: ccfg.WithDefaults().Group,
	}})
	if err != nil {
		return err
	}
	log.Info("consumer starting", "topic", kcfg.Topic, "group", ccfg.WithDefaults().Group, "brokers", kcfg.Brokers)
	return c.Run(ctx)
}
