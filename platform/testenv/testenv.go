// Package testenv gives tests the real parts turnin runs on: a PostgreSQL
// database of their own, a Kafka-protocol broker, and an S3 endpoint over
// HTTP. Nothing here is a mock.
//
// Which Kafka a test gets is chosen by the environment, the way franz-go
// runs one suite against kfake and against real Kafka:
//
//   - TURNIN_TEST_KAFKA_SEEDS unset: an embedded kfake broker per test.
//   - TURNIN_TEST_KAFKA_SEEDS=host:port,…: that cluster, with topics named
//     per test so tests do not see each other's records.
//
// PostgreSQL comes from TURNIN_TEST_DATABASE_URL (set by `make test`, which
// starts the local cluster); each test gets a fresh database cloned from a
// migrated template.
//
// TURNIN_TEST_ENV=containers (`make test-docker`) replaces all three with
// Docker containers started by testcontainers-go: PostgreSQL, Redpanda and
// MinIO. Without a Docker engine those tests skip, saying why.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/objstore/s3embed"
	"github.com/turnin-dev/turnin/platform/pgstore"
)

// Ctx returns a context that ends with the test (or after d at most).
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Logger returns a logger that writes through t.Log, so output shows only
// for failing tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ID returns a short random identifier for naming per-test resources.
func ID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- PostgreSQL -------------------------------------------------------------

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// DatabaseURL returns the admin URL tests create their databases through.
func DatabaseURL(t testing.TB) string {
	if inContainers() {
		return requireContainers(t).PostgresURL
	}
	u := os.Getenv("TURNIN_TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("TURNIN_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts PostgreSQL (infra/postgres.sh) and sets it")
	}
	return u
}

// Postgres returns a pool on a fresh, migrated database that is dropped
// when the test ends, and that database's URL.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	admin := DatabaseURL(t)
	ctx := Ctx(t, time.Minute)
	templateOnce.Do(func() { templateName, templateErr = makeTemplate(admin) })
	if templateErr != nil {
		t.Fatalf("testenv: template database: %v", templateErr)
	}
	name := "turnin_test_" + ID()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateName); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	url := withDatabase(admin, name)
	pool, err := pgstore.Connect(ctx, url)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database: %v", err)
			return
		}
		defer func() { _ = c.Close(cctx) }()
		if _, err := c.Exec(cctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database: %v", err)
		}
	})
	return pool, url
}

// makeTemplate creates and migrates one template per test process; each
// test then clones it, which takes milliseconds instead of a migration run.
func makeTemplate(admin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "turnin_tmpl_" + ID()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	pool, err := pgstore.Connect(ctx, withDatabase(admin, name))
	if err != nil {
		return "", err
	}
	_, err = pgstore.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return "", err
	}
	// The template outlives this call; it is dropped by the next `make test`
	// (see infra/postgres.sh) or stays harmlessly in a throwaway cluster.
	return name, nil
}

func withDatabase(url, db string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return url
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
}

// --- Kafka ------------------------------------------------------------------

// Kafka is a broker for one test.
type Kafka struct {
	Brokers []string
	Topic   string
	// Embedded is the in-process broker, nil against a real cluster.
	Embedded *embedded.Broker
}

// Config returns a kafka.Config for this broker and topic.
func (k *Kafka) Config(t testing.TB) kafka.Config {
	return kafka.Config{Brokers: k.Brokers, Topic: k.Topic, Logger: Logger(t), Partitions: 4}.WithDefaults()
}

// NewKafka starts an embedded broker (or uses the cluster in
// TURNIN_TEST_KAFKA_SEEDS) and creates a per-test topic set.
func NewKafka(t testing.TB, cfg embedded.Config) *Kafka {
	t.Helper()
	k := &Kafka{Topic: "submissions.test." + ID()}
	if inContainers() {
		k.Brokers = requireContainers(t).KafkaSeeds
	} else if seeds := os.Getenv("TURNIN_TEST_KAFKA_SEEDS"); seeds != "" {
		k.Brokers = strings.Split(seeds, ",")
	} else {
		b, err := embedded.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		k.Embedded = b
		k.Brokers = b.Addrs()
	}
	cl, err := kafka.NewProducer(k.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(Ctx(t, 30*time.Second), cl, k.Config(t), kafka.Topics(k.Topic, 0)...); err != nil {
		t.Fatal(err)
	}
	if k.Embedded == nil {
		WaitInSync(t, cl, kafka.Topics(k.Topic, 0), time.Minute)
	}
	return k
}

// WaitInSync waits, at most d, until every partition of topics has a
// leader and its full set of in-sync replicas. A real cluster answers
// "created" before that, and after a broker restarts its replicas catch
// up a while later; a produce sent in between waits for the election,
// which on a loaded machine can outlast a test's produce timeout.
func WaitInSync(t testing.TB, cl *kgo.Client, topics []string, d time.Duration) {
	t.Helper()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		td, err := adm.ListTopics(ctx, topics...)
		ready := err == nil
		for _, topic := range topics {
			desc, ok := td[topic]
			ready = ready && ok && desc.Err == nil && len(desc.Partitions) > 0
			for _, p := range desc.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0 && len(p.ISR) == len(p.Replicas)
			}
		}
		if ready {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: partitions of %v still without a leader or full ISR after %v: %v", topics, d, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ReadTopic reads topic from its start until it has at least n records
// (it may return more, from the same fetch), failing the test after 30 s.
func ReadTopic(t testing.TB, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("testenv: read %d of %d records from %s in 30s", len(out), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// --- Object storage ---------------------------------------------------------

var (
	s3Once sync.Once
	s3Srv  *s3embed.Server
	s3Err  error
)

// StartObjectStore starts the process's embedded S3 gateway if it is not
// running yet. A TestMain calls it before taking a goroutine snapshot for
// leak checks, since the gateway lives as long as the test binary.
func StartObjectStore() error {
	s3Once.Do(func() {
		dir, err := os.MkdirTemp("", "turnin-s3-")
		if err != nil {
			s3Err = err
			return
		}
		s3Srv, s3Err = s3embed.Start(context.Background(), s3embed.Config{Dir: dir})
	})
	return s3Err
}

// ObjectStore returns a Store on a bucket of the test's own, served by the
// process's embedded S3 gateway (one per test binary, started on first use).
func ObjectStore(t testing.TB) (*objstore.Store, *s3embed.Server) {
	t.Helper()
	var srv *s3embed.Server
	if inContainers() {
		c := requireContainers(t)
		srv = &s3embed.Server{Endpoint: c.S3Endpoint, AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, Region: c.S3Region}
	} else {
		if err := StartObjectStore(); err != nil {
			t.Fatalf("testenv: embedded S3: %v", err)
		}
		srv = s3Srv
	}
	st, err := objstore.New(objstore.Config{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: "test-" + ID(), Region: srv.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.EnsureBucket(Ctx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return st, srv
}

// WaitCount polls a single-number query until it returns want, failing the
// test after a minute.
func WaitCount(t testing.TB, pool *pgxpool.Pool, query string, want int64, args ...any) {
	t.Helper()
	ctx := Ctx(t, time.Minute)
	var got int64
	for {
		if err := pool.QueryRow(ctx, query, args...).Scan(&got); err == nil && got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s = %d, want %d", query, got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
