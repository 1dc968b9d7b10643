package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

const (
	e2eTenant     = "e2e"
	e2eCourse     = "cs101"
	e2eAssignment = "hw1"
	partitions    = 4
)

// stack is one scenario's turnin: its own database, topic, group and
// bucket; the programs as processes; the broker embedded in the test
// process or the real cluster.
type stack struct {
	t       *testing.T
	dir     string
	db      *pgxpool.Pool
	dbURL   string
	apiKey  string
	topic   string
	group   string
	brokers []string
	broker  *embedded.Broker // nil on the cluster
	store   *objstore.Store
	s3      objstore.Config
	apiAddr string
	env     []string

	opts       stackOpts
	batches    int // prepare calls, to keep idempotency keys unique
	receiptKey string

	api       *proc
	consumers []*proc
	indexer   *proc
	admin     *kadm.Client
	kcl       *kgo.Client
}

type stackOpts struct {
	consumers   int
	consumerEnv []string // extra environment for the consumers
	apiEnv      []string // extra environment for the API
	// lateBroker gives the processes a broker address nothing listens on
	// yet; startBrokerAt puts an embedded broker there later.
	lateBroker   int
	noAPI, noCon bool
}

func newStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	s := &stack{t: t, dir: logDir(t), topic: "e2e." + testenv.ID(), group: "e2e-" + testenv.ID(), opts: o}
	s.db, s.dbURL = testenv.Postgres(t)
	ctx := testenv.Ctx(t, time.Minute)
	var err error
	if s.apiKey, err = pgstore.CreateTenant(ctx, s.db, e2eTenant); err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(24 * time.Hour).UTC()
	if _, err := pgstore.PutAssignment(ctx, s.db, &schema.Assignment{TenantID: e2eTenant, AssignmentID: e2eAssignment, CourseID: e2eCourse, DueAt: due}); err != nil {
		t.Fatal(err)
	}
	st, gw := testenv.ObjectStore(t)
	s.store = st
	s.s3 = objstore.Config{Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, Region: gw.Region, Bucket: st.Bucket()}
	switch seeds := clusterSeeds(); {
	case o.lateBroker != 0:
		s.brokers = []string{fmt.Sprintf("127.0.0.1:%d", o.lateBroker)}
	case seeds != nil:
		s.brokers = seeds
		s.connectKafka()
	default:
		s.startBrokerAt(0)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s.apiAddr = fmt.Sprintf("127.0.0.1:%d", port)
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	s.receiptKey = base64.StdEncoding.EncodeToString(seed)
	s.env = append(baseEnv(),
		"TURNIN_DATABASE_URL="+s.dbURL,
		"TURNIN_KAFKA_BROKERS="+strings.Join(s.brokers, ","),
		"TURNIN_TOPIC="+s.topic,
		fmt.Sprintf("TURNIN_TOPIC_PARTITIONS=%d", partitions),
		"TURNIN_S3_ENDPOINT="+s.s3.Endpoint, "TURNIN_S3_ACCESS_KEY="+s.s3.AccessKey,
		"TURNIN_S3_SECRET_KEY="+s.s3.SecretKey, "TURNIN_S3_REGION="+s.s3.Region, "TURNIN_S3_BUCKET="+s.s3.Bucket,
		"TURNIN_CONSUMER_GROUP="+s.group,
		"TURNIN_RETRY_DELAYS=1s",
		"TURNIN_SNAPSHOT_REFRESH=500ms",
		"TURNIN_PRODUCE_TIMEOUT=3s",
		"TURNIN_LOG_LEVEL=info",
	)
	if !o.noAPI {
		s.startAPI()
		s.waitReady(60 * time.Second)
	}
	if !o.noCon {
		s.startConsumers(max(o.consumers, 1))
	}
	return s
}

// startBrokerAt starts an embedded broker on port (0: any) and creates the
// scenario's topics on it.
func (s *stack) startBrokerAt(port int) {
	s.t.Helper()
	b, err := embedded.Start(embedded.Config{DataDir: s.t.TempDir(), SyncWrites: true, Port: port})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(b.Close)
	s.broker, s.brokers = b, b.Addrs()
	s.connectKafka()
}

// connectKafka opens the test's own client and admin on s.brokers and
// makes sure the scenario's topics exist.
func (s *stack) connectKafka() {
	s.t.Helper()
	kcfg := kafka.Config{Brokers: s.brokers, Topic: s.topic, Partitions: partitions, Logger: testenv.Logger(s.t)}.WithDefaults()
	var err error
	if s.kcl, err = kafka.NewProducer(kcfg); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.kcl.Close)
	s.admin = kadm.NewClient(s.kcl)
	if err := kafka.EnsureTopics(testenv.Ctx(s.t, time.Minute), s.kcl, kcfg, kafka.Topics(s.topic, 1)...); err != nil {
		s.t.Fatal(err)
	}
}

// startAPI starts `turnin api` on the scenario's address.
func (s *stack) startAPI() {
	s.t.Helper()
	env := append(append([]string{}, s.env...), "TURNIN_HTTP_ADDR="+s.apiAddr, "TURNIN_RECEIPT_KEY="+s.receiptKey)
	s.api = newProc(s.t, s.dir, "api", append(env, s.opts.apiEnv...), "api")
	s.api.start(s.t)
}

// startConsumers starts n `turnin consumer` processes in the scenario's
// group, and the dead-letter indexer.
func (s *stack) startConsumers(n int) {
	s.t.Helper()
	for range n {
		s.startConsumer()
	}
	s.startIndexer()
}

// startConsumer starts one more consumer, with extra environment.
func (s *stack) startConsumer(extra ...string) *proc {
	s.t.Helper()
	env := append(append(append([]string{}, s.env...), s.opts.consumerEnv...), extra...)
	c := newProc(s.t, s.dir, fmt.Sprintf("consumer-%d", len(s.consumers)+1), env, "consumer")
	c.start(s.t)
	s.consumers = append(s.consumers, c)
	return c
}

// startIndexer starts the dead-letter indexer.
func (s *stack) startIndexer() {
	s.t.Helper()
	s.indexer = newProc(s.t, s.dir, "dlq-indexer", s.env, "dlq", "index")
	s.indexer.start(s.t)
}

// logDir is where a scenario's process logs go: .data/e2e/logs/<test>,
// kept after the run (emptied at the scenario's next run).
func logDir(t *testing.T) string {
	dir := filepath.Join(repoRoot, ".data", "e2e", "logs", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// baseEnv is the test's environment without any TURNIN_ setting, so the
// processes see only what the scenario gives them.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TURNIN_") {
			out = append(out, kv)
		}
	}
	return out
}

func (s *stack) url() string { return "http://" + s.apiAddr }

// client returns an API client whose requests time out after d.
func (s *stack) client(d time.Duration) *client.Client {
	c := client.New(s.url(), s.apiKey)
	c.HTTP = &http.Client{Timeout: d, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}
	return c
}

// live reports whether the API answers /healthz.
func (s *stack) live() bool { return s.get("/healthz") == http.StatusOK }

// ready reports whether the API answers /readyz with 200.
func (s *stack) ready() bool { return s.get("/readyz") == http.StatusOK }

func (s *stack) get(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *stack) waitReady(d time.Duration) {
	s.t.Helper()
	within(s.t, d, "the API answers /readyz 200", s.ready)
}

// restartAPI kills the API with SIGKILL and starts it again on the same address.
func (s *stack) restartAPI() {
	s.t.Helper()
	s.api.kill(s.t)
	s.api.start(s.t)
}

// supervise restarts any consumer that dies, the way a process manager
// would, until stop is called; before each restart, env may change the
// consumer's environment. stop returns the restart errors, if any.
func (s *stack) supervise(env func(c *proc)) (stop func() error) {
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				done <- nil
				return
			case <-tick.C:
			}
			for _, c := range s.consumers {
				if c.running() {
					continue
				}
				if env != nil {
					env(c)
				}
				if err := c.startErr(); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			close(quit)
			err = <-done
		})
		return err
	}
	s.t.Cleanup(func() { _ = stop() })
	return stop
}
