package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/bare"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/loadgen"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// BenchmarkAccept drives POST /v1/submissions open-loop (constant arrival
// rate, latency from each request's scheduled send time) at several rates,
// beside a bare echo handler that produces the same record to the same
// embedded broker with the same producer settings, in the same run — so the
// figure that matters is the ratio, which survives a noisy machine.
//
//	TURNIN_BENCH_RATES=2000,5000,10000  TURNIN_BENCH_DURATION=5s
//	go test -run '^$' -bench Accept -benchtime 1x ./api/
func BenchmarkAccept(b *testing.B) {
	rates := []int{2000, 5000, 10000}
	if v := os.Getenv("TURNIN_BENCH_RATES"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			rates = append(rates, n)
		}
	}
	dur := 5 * time.Second
	if v := os.Getenv("TURNIN_BENCH_DURATION"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", fsync), func(b *testing.B) {
			env := newBenchEnv(b, fsync)
			for _, rate := range rates {
				for _, target := range []struct {
					name string
					url  string
				}{{"bare", env.bareURL}, {"turnin-deferred-check", env.deferredURL}, {"sync-baseline", env.syncURL}, {"turnin", env.turninURL}} {
					b.Run(fmt.Sprintf("rate=%d/%s", rate, target.name), func(b *testing.B) {
						env.settle(b)
						res := env.drive(b, target.url, rate, dur)
						report(b, res)
					})
				}
			}
		})
	}
}

func report(b *testing.B, res *loadgen.Result) {
	ok := res.LatencyByOutcome["ok"]
	if ok == nil || ok.Count() == 0 {
		b.Fatalf("no request accepted: %v", res.ByOutcome)
	}
	b.ReportMetric(res.Throughput, "accepted/s")
	b.ReportMetric(float64(ok.Quantile(0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(ok.Quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(ok.Quantile(0.999))/1e6, "p999-ms")
	b.ReportMetric(float64(res.Scheduled-res.OK)/float64(res.Scheduled), "not-accepted-ratio")
	b.ReportMetric(float64(res.SendLag.Quantile(0.99))/1e6, "gen-lag-p99-ms")
	b.Logf("%v\n%s", res.ByOutcome, res.Summary())
}

type benchEnv struct {
	turninURL, bareURL string
	deferredURL        string   // turnin with ObjectCheckDeferred: no HEAD on the accept path
	syncURL            string   // the synchronous baseline (AcceptSync), HEAD deferred too
	bodies             [][]byte // one submit body per student, object uploaded
	client             *http.Client
	producer           *kgo.Client
	key                string
	runID              int
}

func newBenchEnv(b *testing.B, fsync bool) *benchEnv {
	ctx := testenv.Ctx(b, 5*time.Minute)
	db, _ := testenv.Postgres(b)
	key, err := pgstore.CreateTenant(ctx, db, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pgstore.PutAssignment(ctx, db, &schema.Assignment{TenantID: "bench", AssignmentID: "hw1", CourseID: "cs101",
		DueAt: time.Now().Add(24 * time.Hour)}); err != nil {
		b.Fatal(err)
	}
	k := testenv.NewKafka(b, embedded.Config{DataDir: b.TempDir(), SyncWrites: fsync})
	kcfg := k.Config(b)
	kcfg.Partitions = kafka.DefaultPartitions
	producer, err := kafka.NewProducer(kcfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(producer.Close)
	store, _ := testenv.ObjectStore(b)
	_, priv, _ := ed25519.GenerateKey(nil)
	srv, err := api.New(api.Config{ReceiptKey: priv, ReceiptKeyID: "bench", MaxInFlight: 20000},
		api.Deps{Producer: producer, Topic: k.Topic, Store: store, DB: db, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Load(ctx); err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{key: key, producer: producer, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxIdleConns: 1000, MaxConnsPerHost: 1000}}}
	e.turninURL = serve(b, srv.Handler())
	deferred, err := api.New(api.Config{ReceiptKey: priv, ReceiptKeyID: "bench", MaxInFlight: 20000, ObjectCheck: api.ObjectCheckDeferred},
		api.Deps{Producer: producer, Topic: k.Topic, Store: store, DB: db, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := deferred.Load(ctx); err != nil {
		b.Fatal(err)
	}
	e.deferredURL = serve(b, deferred.Handler())
	sync, err := api.New(api.Config{ReceiptKey: priv, ReceiptKeyID: "bench", MaxInFlight: 20000, ObjectCheck: api.ObjectCheckDeferred,
		AcceptMode: api.AcceptSync}, api.Deps{Producer: producer, Topic: k.Topic, Store: store, DB: db, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := sync.Load(ctx); err != nil {
		b.Fatal(err)
	}
	e.syncURL = serve(b, sync.Handler())
	e.bareURL = serve(b, bare.Handler(producer, k.Topic, "bench"))

	// 1,000 students, each with an uploaded file.
	for i := 0; i < 1000; i++ {
		student := fmt.Sprintf("s-%04d", i)
		content := []byte(fmt.Sprintf("%%PDF-1.7 essay of %s %s", student, strings.Repeat("x", 200)))
		sum := sha256.Sum256(content)
		sha := hex.EncodeToString(sum[:])
		objKey := schema.StudentPrefix("bench", "cs101", "hw1", student) + "essay.pdf"
		p, err := store.PresignPut(ctx, objstore.Upload{Key: objKey, Size: int64(len(content)), SHA256: sha, ContentType: "application/pdf"})
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, p.URL, bytes.NewReader(content))
		for hk, hv := range p.Headers {
			req.Header.Set(hk, hv)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		body, _ := json.Marshal(map[string]any{"course_id": "cs101", "assignment_id": "hw1", "student_id": student,
			"object_key": objKey, "size": len(content), "sha256": sha, "content_type": "application/pdf"})
		e.bodies = append(e.bodies, body)
	}
	return e
}

// settle waits until the previous run's work is gone — nothing buffered
// in the producer, no request in flight — so runs do not inherit backlog.
func (e *benchEnv) settle(b *testing.B) {
	deadline := time.Now().Add(time.Minute)
	for e.producer.BufferedProduceRecords() > 0 {
		if time.Now().After(deadline) {
			b.Fatal("producer buffer did not drain")
		}
		<-time.After(50 * time.Millisecond)
	}
	e.client.CloseIdleConnections()
	runtime.GC()
}

func (e *benchEnv) drive(b *testing.B, url string, rate int, dur time.Duration) *loadgen.Result {
	e.runID++
	run := e.runID
	res, err := loadgen.Run(context.Background(), loadgen.Config{Rate: float64(rate), Duration: dur, Timeout: 10 * time.Second,
		// A client pool of 1,000 connections, as a fleet of LMS backends would
		// hold; a request due while all are busy waits, and its wait counts.
		MaxOutstanding: 1000},
		func(ctx context.Context, seq int) (string, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/submissions", bytes.NewReader(e.bodies[seq%len(e.bodies)]))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Idempotency-Key", fmt.Sprintf("r%d-%d", run, seq))
			resp, err := e.client.Do(req)
			if err != nil {
				return "", err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
				return strconv.Itoa(resp.StatusCode), fmt.Errorf("status %d", resp.StatusCode)
			}
			return "ok", nil
		})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func serve(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
