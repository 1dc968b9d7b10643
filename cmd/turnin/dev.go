package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/dlq"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/objstore/s3embed"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// DevTenant is the tenant `turnin dev` creates.
const DevTenant = "dev"

// DevConfig configures the embedded stack.
type DevConfig struct {
	// DataDir holds the broker's log, the objects and dev state. Required.
	DataDir string
	// DatabaseURL is the PostgreSQL to use. Required.
	DatabaseURL string
	// HTTPAddr is the API's address; port 0 picks one.
	HTTPAddr string
	// KafkaPort is the embedded broker's port on 127.0.0.1; 0 picks one.
	KafkaPort int
	// KafkaBrokers, when set, are the seeds of an existing Kafka cluster to
	// use instead of starting the embedded broker (as `turnin flood
	// --kafka-brokers` does against the 3-broker cluster). Topics are then
	// created with Kafka.ReplicationFactor, capped at the broker count.
	KafkaBrokers []string
	// S3Addr is the embedded S3 gateway's address; empty picks a port.
	S3Addr string
	// SyncWrites makes the broker fsync before acknowledging.
	SyncWrites bool
	// APIKey, when set, is installed as the dev tenant's key.
	APIKey string
	Kafka  kafka.Config // Brokers is filled in by StartDev
	S3     objstore.Config
	API    api.Config // receipt key filled in by StartDev when empty
	// Consumer configures the embedded consumer; its Kafka and DB are filled in.
	Consumer consumer.Config
	// VerifyFraction is the share of submissions whose object is verified.
	VerifyFraction float64
	// AlertWebhook receives a summary of new dead letters (optional).
	AlertWebhook string
	Logger       *slog.Logger
}

// Dev is the whole of turnin in one process: an embedded broker, an
// embedded S3 gateway, the API, over a real PostgreSQL. Tests start it on
// port 0 with a temporary directory, exactly as `turnin dev` does.
type Dev struct {
	cfg DevConfig
	// Broker is the embedded broker, nil when KafkaBrokers named a cluster.
	Broker *embedded.Broker
	S3     *s3embed.Server
	// Store is the object-store client the API and consumers use.
	Store    *objstore.Store
	DB       *pgxpool.Pool
	Producer *kgo.Client
	API      *api.Server
	// Consumers drain the main topic and each retry tier.
	Consumers []*consumer.Consumer
	// Indexer indexes retry and dead-letter records for status and redrive.
	Indexer *dlq.Indexer
	ln      net.Listener
	// URL is the API's base URL; APIKey the dev tenant's key.
	URL, APIKey string
	closers     []func()
}

// devState is what survives restarts besides the data itself.
type devState struct {
	APIKey      string `json:"api_key"`
	S3AccessKey string `json:"s3_access_key"`
	S3SecretKey string `json:"s3_secret_key"`
	ReceiptSeed []byte `json:"receipt_seed"`
}

// StartDev starts every part and returns once the API is ready to serve.
func StartDev(ctx context.Context, cfg DevConfig) (_ *Dev, err error) {
	d := &Dev{cfg: cfg}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	log := cfg.Logger
	// Absolute, because the embedded S3 gateway changes the working directory.
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, err
	}
	d.cfg.DataDir = cfg.DataDir
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	st, err := loadDevState(filepath.Join(cfg.DataDir, "dev.json"), cfg.APIKey)
	if err != nil {
		return nil, err
	}

	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if d.DB, err = pgstore.Connect(pctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("%w\n\nturnin dev needs PostgreSQL. `make run` starts a local one (infra/postgres.sh start);\nor point TURNIN_DATABASE_URL at yours", err)
	}
	d.closers = append(d.closers, d.DB.Close)
	if _, err := pgstore.Migrate(ctx, d.DB, log); err != nil {
		return nil, err
	}
	if err := pgstore.AddAPIKey(ctx, d.DB, DevTenant, st.APIKey); err != nil {
		return nil, fmt.Errorf("dev tenant: %w", err)
	}
	d.APIKey = st.APIKey
	if err := seedDemoAssignment(ctx, d.DB); err != nil {
		return nil, err
	}

	kcfg := cfg.Kafka
	if len(cfg.KafkaBrokers) > 0 {
		kcfg.Brokers = cfg.KafkaBrokers
	} else {
		if d.Broker, err = embedded.Start(embedded.Config{
			DataDir: filepath.Join(cfg.DataDir, "kafka"), SyncWrites: cfg.SyncWrites, Port: cfg.KafkaPort,
		}); err != nil {
			return nil, err
		}
		d.closers = append(d.closers, d.Broker.Close)
		kcfg.Brokers = d.Broker.Addrs()
		kcfg.ReplicationFactor = 1
	}
	kcfg = kcfg.WithDefaults()
	d.cfg.Kafka = kcfg
	if d.Producer, err = kafka.NewProducer(kcfg); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.Producer.Close)
	// The main and dead-letter topics; the retry tiers' below, with the consumers.
	if err := kafka.EnsureTopics(ctx, d.Producer, kcfg, kafka.Topics(kcfg.Topic, 0)...); err != nil {
		return nil, err
	}

	if d.S3, err = s3embed.Start(ctx, s3embed.Config{
		Dir: filepath.Join(cfg.DataDir, "s3"), Addr: cfg.S3Addr, AccessKey: st.S3AccessKey, SecretKey: st.S3SecretKey,
	}); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = d.S3.Close() })
	s3cfg := cfg.S3
	s3cfg.Endpoint, s3cfg.AccessKey, s3cfg.SecretKey, s3cfg.Region = d.S3.Endpoint, d.S3.AccessKey, d.S3.SecretKey, d.S3.Region
	store, err := objstore.New(s3cfg)
	if err != nil {
		return nil, err
	}
	d.Store = store
	if err := store.EnsureBucket(ctx); err != nil {
		return nil, err
	}

	ccfg := cfg.Consumer
	ccfg.Kafka = kcfg
	if cfg.VerifyFraction > 0 {
		ccfg.Steps = append([]consumer.Step{&consumer.VerifyStep{Store: store, Fraction: cfg.VerifyFraction, Concurrency: 8}}, ccfg.Steps...)
	}
	if err := kafka.EnsureTopics(ctx, d.Producer, kcfg, kafka.Topics(kcfg.Topic, len(ccfg.WithDefaults().RetryDelays))...); err != nil {
		return nil, err
	}
	if d.Consumers, err = consumer.Tiers(ccfg, consumer.Deps{DB: d.DB, Logger: log}, d.Producer); err != nil {
		return nil, err
	}
	d.Indexer = dlq.NewIndexer(dlq.IndexerConfig{Kafka: kcfg, RetryDelays: ccfg.WithDefaults().RetryDelays}, d.DB,
		dlq.NewAlerter(cfg.AlertWebhook, nil, log), log)

	acfg := cfg.API
	if acfg.ReceiptKey == nil {
		acfg.ReceiptKey = ed25519.NewKeyFromSeed(st.ReceiptSeed)
		acfg.ReceiptKeyID = receiptKeyID(acfg.ReceiptKey.Public().(ed25519.PublicKey))
	}
	acfg.ProduceTimeout = kcfg.ProduceTimeout
	group := ccfg.WithDefaults().GroupID()
	if d.API, err = api.New(acfg, api.Deps{
		Producer: d.Producer, Topic: kcfg.Topic, Store: store, DB: d.DB, Logger: log,
		Backlog: func(ctx context.Context) (*kafka.Backlog, error) {
			return kafka.MeasureBacklog(ctx, d.Producer, kcfg, kcfg.Topic, group)
		},
	}); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	if d.ln, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set TURNIN_HTTP_ADDR to another address)", cfg.HTTPAddr, err)
	}
	d.URL = "http://" + d.ln.Addr().String()
	return d, nil
}

// Run serves and consumes until ctx ends.
func (d *Dev) Run(ctx context.Context) error {
	ln := d.ln
	d.ln = nil // Run owns it now; the server closes it
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cerr, ierr := make(chan error, 1), make(chan error, 1)
	go func() { cerr <- consumer.RunAll(ctx, d.Consumers...) }()
	go func() { ierr <- d.Indexer.Run(ctx) }()
	err := d.API.Run(ctx, ln)
	cancel()
	return errors.Join(err, <-cerr, <-ierr)
}

// Close stops every part, in reverse order of starting.
func (d *Dev) Close() {
	if d.ln != nil {
		d.ln.Close()
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// seedDemoAssignment creates cs101/hw1, due a week from now, the first
// time, so the printed example works as is.
func seedDemoAssignment(ctx context.Context, db *pgxpool.Pool) error {
	all, err := pgstore.AllAssignments(ctx, db)
	if err != nil {
		return err
	}
	if all[pgstore.AssignmentKey{Tenant: DevTenant, Assignment: "hw1"}] != nil {
		return nil
	}
	_, err = pgstore.PutAssignment(ctx, db, &schema.Assignment{
		TenantID: DevTenant, AssignmentID: "hw1", CourseID: "cs101",
		DueAt: time.Now().Add(7 * 24 * time.Hour).Truncate(time.Hour).UTC(),
	})
	return err
}

func loadDevState(path, apiKey string) (*devState, error) {
	var st devState
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %w (delete it to start afresh)", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, err
	}
	changed := false
	if apiKey != "" && st.APIKey != apiKey {
		st.APIKey, changed = apiKey, true
	}
	if st.APIKey == "" {
		st.APIKey, changed = pgstore.NewAPIKey(), true
	}
	if st.S3AccessKey == "" {
		st.S3AccessKey, st.S3SecretKey, changed = "turnin-dev", randomToken(), true
	}
	if len(st.ReceiptSeed) != ed25519.SeedSize {
		st.ReceiptSeed, changed = make([]byte, ed25519.SeedSize), true
		_, _ = rand.Read(st.ReceiptSeed)
	}
	if changed {
		b, _ := json.MarshalIndent(&st, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	}
	return &st, nil
}

func randomToken() string {
	k := pgstore.NewAPIKey()
	return k[len(pgstore.APIKeyPrefix):]
}
