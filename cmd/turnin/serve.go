package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
)

func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dev", "Runs turnin in one process: an embedded Kafka-protocol broker (kfake, log under\nthe data dir, fsync per write by default), an embedded S3 gateway over HTTP, the\nAPI and the consumer. PostgreSQL is a real server: `make run` starts a local one.")
	var (
		lo                   logOpts
		db                   dbOpts
		ko                   kafkaOpts
		so                   s3Opts
		ao                   apiOpts
		co                   consumerOpts
		dataDir, s3Addr, key string
		alertWebhook         string
		kafkaPort            int
		syncWrites           bool
	)
	lo.register(f)
	db.register(f)
	ko.register(f, false)
	so.register(f, false)
	ao.register(f, false)
	co.register(f)
	f.String(&dataDir, "data-dir", "TURNIN_DATA_DIR", ".data", "where the embedded broker and S3 keep their data")
	f.Int(&kafkaPort, "kafka-port", "TURNIN_KAFKA_PORT", 9092, "embedded broker port on 127.0.0.1 (0 picks one)")
	f.String(&s3Addr, "s3-addr", "TURNIN_S3_ADDR", "127.0.0.1:9000", "embedded S3 listen address")
	f.Bool(&syncWrites, "sync-writes", "TURNIN_SYNC_WRITES", true, "fsync every produced batch before acknowledging it")
	f.String(&alertWebhook, "alert-webhook", "TURNIN_ALERT_WEBHOOK", "", "POST a summary of new dead letters here (optional)")
	f.String(&key, "api-key", "TURNIN_DEV_API_KEY", "", "API key for the dev tenant (default: generated once, kept in the data dir)")
	if err := f.Parse(args); err != nil {
		return err
	}
	log, err := lo.logger()
	if err != nil {
		return err
	}
	logStart(log)
	kcfg := ko.config([]string{"embedded:0"}, log) // StartDev fills in the embedded broker
	ccfg, err := co.config(kcfg)
	if err != nil {
		return err
	}
	d, err := StartDev(ctx, DevConfig{
		DataDir: dataDir, DatabaseURL: db.url, HTTPAddr: ao.addr, KafkaPort: kafkaPort, S3Addr: s3Addr,
		SyncWrites: syncWrites, APIKey: key, Kafka: kcfg, S3: so.config(), API: ao.config(kcfg, nil),
		Consumer: ccfg, VerifyFraction: co.verifyFraction, AlertWebhook: alertWebhook, Logger: log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	printBanner(stdout, d, d.cfg.DataDir, db.url, ko.topic, so.bucket, syncWrites)
	return d.Run(ctx)
}

func runAPI(ctx context.Context, args []string, _ io.Writer) error {
	f := newFlags("api", "Runs the HTTP API: accepts submissions into Kafka (acks=all) after one HEAD on S3.\nNever touches PostgreSQL on the accept path; keys and assignments are snapshots.")
	var (
		lo logOpts
		db dbOpts
		ko kafkaOpts
		so s3Opts
		ao apiOpts
	)
	lo.register(f)
	db.register(f)
	ko.register(f, true)
	so.register(f, true)
	ao.register(f, true)
	if err := f.Parse(args); err != nil {
		return err
	}
	seed, err := parseSeed(ao.receiptKey)
	if err != nil {
		return err
	}
	b, err := connect(ctx, &lo, &db, &ko)
	if err != nil {
		return err
	}
	defer b.close()
	logStart(b.log)
	log, kcfg, pool, producer := b.log, b.kcfg, b.pool, b.producer
	store, err := objstore.New(so.config())
	if err != nil {
		return err
	}
	srv, err := api.New(ao.config(kcfg, seed), api.Deps{Producer: producer, Topic: kcfg.Topic, Store: store, DB: pool, Logger: log,
		Backlog: func(ctx context.Context) (*kafka.Backlog, error) {
			return kafka.MeasureBacklog(ctx, producer, kcfg, kcfg.Topic, ao.group)
		}})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", ao.addr)
	if err != nil {
		return err
	}
	return srv.Run(ctx, ln)
}

func printBanner(w io.Writer, d *Dev, dataDir, dbURL, topic, bucket string, sync bool) {
	fsync := "fsync per write"
	if !sync {
		fsync = "no per-write fsync"
	}
	fmt.Fprintf(w, `
turnin is running (embedded mode). Ctrl-C stops it; data stays in %s.

  API         %s   (/healthz, /readyz, /metrics)
  Dashboard   %s/dashboard   (sign in with the API key below)
  Kafka       %s   topic %s (%s)
  S3          %s   bucket %s
  PostgreSQL  %s
  Tenant      %s
  API key     %s

Try it from another terminal (a demo assignment cs101/hw1 is due in a week):

  export TURNIN_URL=%s TURNIN_API_KEY=%s
  echo "my essay" > essay.txt
  bin/turnin submit --course cs101 --assignment hw1 --student s-001 --file essay.txt
  bin/turnin status <receipt_id printed by submit>

`, dataDir, d.URL, d.URL, d.Broker.Addrs()[0], topic, fsync, d.S3.Endpoint, bucket, dbURL, DevTenant, d.APIKey, d.URL, d.APIKey)
}

// backends are what a service process connects to before it starts.
type backends struct {
	log      *slog.Logger
	kcfg     kafka.Config
	pool     *pgxpool.Pool
	producer *kgo.Client
}

// connect opens the database pool and a producer, and makes sure turnin's
// topics exist (creating them needs admin rights a deployment may not
// grant, so a failure there is only a warning).
func connect(ctx context.Context, lo *logOpts, db *dbOpts, ko *kafkaOpts) (*backends, error) {
	log, err := lo.logger()
	if err != nil {
		return nil, err
	}
	b := &backends{log: log, kcfg: ko.config(nil, log)}
	if b.pool, err = pgstore.Connect(ctx, db.url); err != nil {
		return nil, err
	}
	if b.producer, err = kafka.NewProducer(b.kcfg); err != nil {
		b.pool.Close()
		return nil, err
	}
	if err := kafka.EnsureTopics(ctx, b.producer, b.kcfg, kafka.Topics(b.kcfg.Topic, 0)...); err != nil {
		log.Warn("could not ensure topics; assuming they exist", "err", err)
	}
	return b, nil
}

func (b *backends) close() {
	b.producer.Close()
	b.pool.Close()
}
