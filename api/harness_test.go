package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// harness is a real API over real parts: PostgreSQL, a Kafka-protocol
// broker and the S3 gateway over HTTP.
type harness struct {
	t        *testing.T
	srv      *api.Server
	url      string
	kafka    *testenv.Kafka
	producer *kgo.Client
	store    *objstore.Store
	db       *pgxpool.Pool
	dbURL    string
	pub      ed25519.PublicKey
	keyA     string // tenant "uni-a"
	keyB     string // tenant "uni-b"
	a        *client.Client
	b        *client.Client
	queries  *atomic.Int64 // statements the API's own pool ran
}

type harnessOpts struct {
	cfg      api.Config
	kafkaCfg embedded.Config
	// run starts the server with Run (snapshot refresh loop included);
	// otherwise the snapshots are loaded once and never refreshed.
	run bool
}

// countingTracer counts every statement a pool runs.
type countingTracer struct{ n *atomic.Int64 }

func (c countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, queries: new(atomic.Int64)}
	ctx := testenv.Ctx(t, time.Minute)
	var admin *pgxpool.Pool
	admin, h.dbURL = testenv.Postgres(t)
	var err error
	if h.keyA, err = pgstore.CreateTenant(ctx, admin, "uni-a"); err != nil {
		t.Fatal(err)
	}
	if h.keyB, err = pgstore.CreateTenant(ctx, admin, "uni-b"); err != nil {
		t.Fatal(err)
	}
	// The API gets a pool of its own whose statements are counted.
	pcfg, err := pgxpool.ParseConfig(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = countingTracer{h.queries}
	if h.db, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.db.Close)

	h.kafka = testenv.NewKafka(t, o.kafkaCfg)
	if h.kafka.Embedded == nil && o.cfg.ProduceTimeout == 0 {
		// A real cluster on a loaded machine can take seconds over a new
		// producer's first write (metadata, producer id, leaders settling).
		o.cfg.ProduceTimeout = 15 * time.Second
	}
	kcfg := h.kafka.Config(t)
	if o.cfg.ProduceTimeout != 0 {
		kcfg.ProduceTimeout = o.cfg.ProduceTimeout
		kcfg.DeliveryTimeout = o.cfg.ProduceTimeout + 2*time.Second
	}
	if h.producer, err = kafka.NewProducer(kcfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.producer.Close)
	h.store, _ = testenv.ObjectStore(t)

	var priv ed25519.PrivateKey
	h.pub, priv, _ = ed25519.GenerateKey(nil)
	cfg := o.cfg
	cfg.ReceiptKey, cfg.ReceiptKeyID = priv, "test-key"
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 100 * time.Millisecond
	}
	h.srv, err = api.New(cfg, api.Deps{
		Producer: h.producer, Topic: h.kafka.Topic, Store: h.store, DB: h.db, Logger: testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	if o.run {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.srv.Run(rctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		h.waitReady()
	} else {
		if err := h.srv.Load(ctx); err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: h.srv.Handler()}
		go func() { _ = hs.Serve(ln) }()
		t.Cleanup(func() { _ = hs.Close() })
	}
	h.a, h.b = client.New(h.url, h.keyA), client.New(h.url, h.keyB)
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(h.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("API not ready: %v", err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// assignment creates an assignment for tenant uni-a.
func (h *harness) assignment(id string, a client.Assignment) {
	h.t.Helper()
	if err := h.a.PutAssignment(testenv.Ctx(h.t, 10*time.Second), id, a); err != nil {
		h.t.Fatal(err)
	}
}

// openAssignment creates assignment "hw1" of course "cs101", due tomorrow.
func (h *harness) openAssignment() {
	h.assignment("hw1", client.Assignment{CourseID: "cs101", DueAt: time.Now().Add(24 * time.Hour)})
}

// upload stores body for student and returns the submit request for it.
func (h *harness) upload(c *client.Client, student string, body []byte) client.SubmitRequest {
	h.t.Helper()
	ctx := testenv.Ctx(h.t, 10*time.Second)
	up, err := c.RequestUpload(ctx, uploadReq(student, body))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := c.PutObject(ctx, up, body); err != nil {
		h.t.Fatal(err)
	}
	r := uploadReq(student, body)
	return client.SubmitRequest{CourseID: r.CourseID, AssignmentID: r.AssignmentID, StudentID: student,
		ObjectKey: up.ObjectKey, Size: r.Size, SHA256: r.SHA256, ContentType: r.ContentType}
}

// records reads every record on the submissions topic.
func (h *harness) records() []*kgo.Record {
	h.t.Helper()
	ctx := testenv.Ctx(h.t, 20*time.Second)
	adm := kadm.NewClient(h.producer)
	ends, err := kafka.EndOffsets(ctx, adm, h.kafka.Topic)
	if err != nil {
		h.t.Fatal(err)
	}
	want := int64(0)
	for _, o := range ends {
		want += o
	}
	if want == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.kafka.Brokers...), kgo.ConsumeTopics(h.kafka.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			h.t.Fatalf("read %d of %d records: %v", len(out), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// rawPost sends a hand-built request, for inputs the client cannot make.
func (h *harness) rawPost(path, key, contentType, idem, body string) (int, schema.ErrorBody, http.Header) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb schema.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, resp.Header
}

func apiErr(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("want an API error, got %v", err)
	}
	return e
}

// submitRetrying resends with the same key while the answer is temporary,
// the way a client is told to, until a deadline.
func (h *harness) submitRetrying(key string, req client.SubmitRequest) *client.Receipt {
	h.t.Helper()
	ctx := testenv.Ctx(h.t, 60*time.Second)
	for {
		rc, err := h.a.Submit(ctx, key, req)
		if err == nil {
			return rc
		}
		var e *client.Error
		if !errors.As(err, &e) || !e.Temporary() || ctx.Err() != nil {
			h.t.Fatalf("submit %s: %v", key, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func kafkaSeedsEnv() string { return os.Getenv("TURNIN_TEST_KAFKA_SEEDS") }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
