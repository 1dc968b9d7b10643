package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/floodreport"
	"github.com/turnin-dev/turnin/platform/loadgen"
	"github.com/turnin-dev/turnin/schema"
)

// floodProfile is the deadline flood `turnin loadtest` and `turnin flood`
// drive: an open-loop arrival rate climbing to a peak, each arrival a
// student who uploads and submits, retrying with the same key.
type floodProfile struct {
	course                    string
	total, students, fileSize int
	peak, startRate           float64
	ramp, timeout, budget     time.Duration
	maxOutstanding            int
	sampleEvery, drainTimeout time.Duration
}

func (p *floodProfile) register(f *flags) {
	f.String(&p.course, "course", "TURNIN_LOADTEST_COURSE", "cs101", "course id")
	f.Int(&p.total, "total", "TURNIN_LOADTEST_TOTAL", 40000, "submissions in the flood")
	f.Float64(&p.peak, "peak", "TURNIN_LOADTEST_PEAK", 10000, "peak arrival rate, submissions per second")
	f.Float64(&p.startRate, "start-rate", "TURNIN_LOADTEST_START_RATE", 0, "arrival rate at the start (default: 5 % of the peak)")
	f.Duration(&p.ramp, "ramp", "TURNIN_LOADTEST_RAMP", 5*time.Second, "how long the rate climbs to the peak")
	f.Int(&p.students, "students", "TURNIN_LOADTEST_STUDENTS", 10000, "distinct students (arrivals cycle through them)")
	f.Int(&p.fileSize, "file-size", "TURNIN_LOADTEST_FILE_SIZE", 4096, "bytes per uploaded file")
	f.Int(&p.maxOutstanding, "max-outstanding", "TURNIN_LOADTEST_MAX_OUTSTANDING", 2000, "submissions in flight at once (a client connection pool); later arrivals wait, and their wait counts")
	f.Duration(&p.timeout, "timeout", "TURNIN_LOADTEST_TIMEOUT", 10*time.Second, "one HTTP request's timeout")
	f.Duration(&p.budget, "retry-budget", "TURNIN_LOADTEST_RETRY_BUDGET", 2*time.Minute, "how long one student keeps retrying before giving up")
	f.Duration(&p.sampleEvery, "sample-every", "TURNIN_LOADTEST_SAMPLE_EVERY", 250*time.Millisecond, "how often the report samples the system's counts and memory")
	f.Duration(&p.drainTimeout, "drain-timeout", "TURNIN_LOADTEST_DRAIN_TIMEOUT", 3*time.Minute, "how long the report waits, after the flood, for the backlog to drain")
}

func (p *floodProfile) withDefaults() {
	if p.startRate == 0 {
		p.startRate = p.peak / 20
	}
}

func (p *floodProfile) String() string {
	return fmt.Sprintf("%d submissions, open loop, %.0f/s climbing to %.0f/s over %s then holding; %d students, %d-byte files; "+
		"%d outstanding at most; retries of 503/429/timeouts with jittered backoff (250 ms to 5 s) and the same key for up to %s",
		p.total, p.startRate, p.peak, p.ramp, p.students, p.fileSize, p.maxOutstanding, p.budget)
}

// httpClient is a client pool sized for the profile.
func (p *floodProfile) httpClient() *http.Client {
	return &http.Client{Timeout: p.timeout, Transport: &http.Transport{
		MaxIdleConns: p.maxOutstanding, MaxIdleConnsPerHost: p.maxOutstanding, MaxConnsPerHost: p.maxOutstanding}}
}

// floodTarget is one system the flood is sent to.
type floodTarget struct {
	name, title, about string
	// uploads asks for upload URLs and owns the assignment; submits takes
	// the submissions (the same client, except for the bare handler).
	uploads, submits *client.Client
	assignment       string
	// counts reads the assignment's processed, retrying and dead-lettered
	// counts; nil when the target has no database (bare).
	counts func(ctx context.Context) (processed, retrying, dead int64, err error)
	// rss reads the API's resident memory in bytes; nil when unknown.
	rss func(ctx context.Context) (float64, error)
	// check accounts for the accepted receipts after the drain; nil when
	// there is nothing to check.
	check func(ctx context.Context, receipts []string) (floodCheck, error)
}

// floodCheck is what the end-of-run check found.
type floodCheck struct {
	lost, duplicates int
	how              string
}

// floodRun is what driving one target produced.
type floodRun struct {
	path     *floodreport.Path
	result   *loadgen.Result
	attempts *loadgen.Histogram // each POST /v1/submissions, from its send
	receipts []string
	start    time.Time
}

// driveFlood sends the profile's flood to t, samples the system while it
// runs and drains, checks every receipt, and returns the path's figures.
func driveFlood(ctx context.Context, log *slog.Logger, prof floodProfile, t floodTarget) (*floodRun, error) {
	prof.withDefaults()
	run := fmt.Sprintf("%s%d", t.name, time.Now().UnixNano())
	var (
		accepted   atomic.Int64
		lastAccept atomic.Int64 // ns since start
		retries    atomic.Int64
		mu         sync.Mutex
		retriesAt  []int // per wall-clock second
		receipts   []string
	)
	attempts := &loadgen.Histogram{}
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }
	countRetry := func() {
		retries.Add(1)
		k := int(since() / time.Second)
		mu.Lock()
		for len(retriesAt) <= k {
			retriesAt = append(retriesAt, 0)
		}
		retriesAt[k]++
		mu.Unlock()
	}
	op := func(ctx context.Context, seq int) (string, error) {
		student := fmt.Sprintf("s-%06d", seq%max(prof.students, 1))
		body := fileContent(run, seq, prof.fileSize)
		sum := sha256.Sum256(body)
		up, err := t.uploads.RequestUpload(ctx, client.UploadRequest{CourseID: prof.course, AssignmentID: t.assignment, StudentID: student,
			Filename: "submission.bin", ContentType: "application/octet-stream", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
		if err != nil {
			return outcome(err), err
		}
		if err := t.uploads.PutObject(ctx, up, body); err != nil {
			return "upload_failed", err
		}
		req := client.SubmitRequest{CourseID: prof.course, AssignmentID: t.assignment, StudentID: student, ObjectKey: up.ObjectKey,
			Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), ContentType: "application/octet-stream"}
		key := fmt.Sprintf("%s-%d", run, seq)
		bo := backoff.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}
		deadline := time.Now().Add(prof.budget)
		for {
			sent := time.Now()
			rc, err := t.submits.Submit(ctx, key, req)
			attempts.Record(time.Since(sent))
			if err == nil {
				accepted.Add(1)
				lastAccept.Store(int64(since()))
				mu.Lock()
				receipts = append(receipts, rc.ReceiptID)
				mu.Unlock()
				return "accepted", nil
			}
			var ae *client.Error
			temporary := !errors.As(err, &ae) || ae.Temporary()
			if !temporary || time.Now().After(deadline) || ctx.Err() != nil {
				return outcome(err), err
			}
			countRetry()
			wait := bo.Next()
			if ae != nil && ae.RetryAfter > 0 {
				wait = max(wait, ae.RetryAfter)
			}
			if !backoff.Sleep(ctx, wait) {
				return "canceled", ctx.Err()
			}
		}
	}

	// The sampler reads the system's counts and memory until told to stop.
	var samples []floodreport.Sample
	sample := func(ctx context.Context) floodreport.Sample {
		s := floodreport.Sample{T: since().Seconds(), Accepted: accepted.Load(), Processed: -1, Retrying: -1, DeadLettered: -1}
		if t.counts != nil {
			p, r, d, err := t.counts(ctx)
			if err != nil {
				log.Debug("flood: counts", "err", err)
				if n := len(samples); n > 0 { // keep the line continuous
					p, r, d = samples[n-1].Processed, samples[n-1].Retrying, samples[n-1].DeadLettered
				}
			}
			s.Processed, s.Retrying, s.DeadLettered = p, r, d
		}
		if t.rss != nil {
			if b, err := t.rss(ctx); err == nil {
				s.RSSMiB = b / (1 << 20)
			}
		}
		return s
	}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	samplerDone := make(chan struct{})
	drained := make(chan struct{})
	var floodOver atomic.Bool
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(prof.sampleEvery)
		defer tick.Stop()
		closed := false
		for {
			// Read before sampling: a sample begun during the flood may
			// count fewer accepts than the database already holds.
			over := floodOver.Load()
			s := sample(sctx)
			if sctx.Err() != nil {
				return
			}
			samples = append(samples, s)
			if !closed && over && (t.counts == nil || s.Backlog() <= 0) {
				close(drained)
				closed = true
			}
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	cfg := loadgen.Config{Rate: prof.peak, RampFrom: prof.startRate, RampDuration: prof.ramp, Count: prof.total,
		MaxOutstanding: prof.maxOutstanding, Timeout: prof.budget + 2*prof.timeout, Grace: prof.budget + 2*prof.timeout,
		Progress: func(s loadgen.Snapshot) {
			log.Info("flood progress", "target", t.name, "elapsed", s.Elapsed.Round(time.Second), "target_rate", int(s.TargetRate),
				"scheduled", s.Scheduled, "accepted", s.OK, "failed", s.Errors, "in_flight", s.Outstanding, "waiting", s.Waiting,
				"p99", s.P99.Round(time.Millisecond), "retries", retries.Load())
		}}
	res, runErr := loadgen.Run(ctx, cfg, op)
	if res == nil {
		return nil, runErr
	}
	floodOver.Store(true)
	if t.counts != nil {
		log.Info("flood over; waiting for the backlog to drain", "target", t.name, "accepted", accepted.Load())
	}
	select {
	case <-drained:
	case <-time.After(prof.drainTimeout):
		log.Warn("flood: the backlog did not drain in time", "target", t.name, "drain_timeout", prof.drainTimeout)
	case <-ctx.Done():
	}
	stopSampling()
	<-samplerDone
	if len(samples) == 0 || samples[len(samples)-1].T < since().Seconds()-1 {
		samples = append(samples, sample(ctx))
	}

	p := &floodreport.Path{Name: t.name, Title: t.title, About: t.about, Target: t.submits.BaseURL, HasBackend: t.counts != nil,
		Scheduled: res.Scheduled, Accepted: res.OK, Failed: res.Errors, Dropped: res.Dropped, Retries: retries.Load(),
		Outcomes: res.ByOutcome, Elapsed: res.Elapsed.Seconds(), LastAcceptAt: time.Duration(lastAccept.Load()).Seconds(),
		Samples: samples, Duplicates: -1, DrainedAt: -1}
	if h := res.LatencyByOutcome["accepted"]; h != nil {
		q := h.Quantiles(0.5, 0.99, 0.999, 1)
		p.P50, p.P99, p.P999, p.Max = msOf(q[0]), msOf(q[1]), msOf(q[2]), msOf(q[3])
	}
	p.SubmitP99 = msOf(attempts.Quantile(0.99))
	mu.Lock()
	for _, s := range res.PerSecond {
		sec := floodreport.Second{T: s.Start.Seconds(), Offered: s.Scheduled, Accepted: s.OK, Failed: s.Errors, Dropped: s.Dropped,
			P50: msOf(s.P50), P99: msOf(s.P99), P999: msOf(s.P999)}
		if k := int(s.Start / time.Second); k < len(retriesAt) {
			sec.Retries = retriesAt[k]
		}
		p.Seconds = append(p.Seconds, sec)
	}
	for k := len(res.PerSecond); k < len(retriesAt); k++ { // retries after the last arrival's second
		p.Seconds = append(p.Seconds, floodreport.Second{T: float64(k), Retries: retriesAt[k]})
	}
	got := append([]string(nil), receipts...)
	mu.Unlock()
	if t.counts == nil {
		p.DrainedAt = p.LastAcceptAt
	} else {
		for _, s := range samples {
			if s.T >= p.LastAcceptAt && s.Backlog() <= 0 {
				p.DrainedAt = s.T
				break
			}
		}
	}
	if t.check != nil {
		c, err := t.check(ctx, got)
		if err != nil {
			return nil, fmt.Errorf("flood: check the receipts of %s: %w", t.name, err)
		}
		p.Lost, p.Duplicates, p.LostHow = c.lost, c.duplicates, c.how
	}
	return &floodRun{path: p, result: res, attempts: attempts, receipts: got, start: start}, runErr
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// apiCounts reads an assignment's counts through the API's list endpoint,
// so it works against any turnin URL.
func apiCounts(c *client.Client, assignment string) func(context.Context) (int64, int64, int64, error) {
	return func(ctx context.Context) (int64, int64, int64, error) {
		l, err := c.ListSubmissions(ctx, assignment, "", 1, false)
		if err != nil {
			return 0, 0, 0, err
		}
		return l.Counts.Processed, l.Counts.Retrying, l.Counts.DeadLettered, nil
	}
}

// metricsRSS reads process_resident_memory_bytes from a turnin /metrics.
func metricsRSS(hc *http.Client, baseURL string) func(context.Context) (float64, error) {
	return func(ctx context.Context) (float64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return promValue(resp.Body, "process_resident_memory_bytes")
	}
}

// promValue finds an unlabelled metric's value in the Prometheus text format.
func promValue(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// dbCheck accounts for every accepted receipt in the database: in the
// submissions table or the dead-letter index, else lost; and counts rows
// beyond one per idempotency key.
func dbCheck(db *pgxpool.Pool, tenant, assignment string) func(context.Context, []string) (floodCheck, error) {
	return func(ctx context.Context, receipts []string) (floodCheck, error) {
		var c floodCheck
		c.how = "every receipt looked up in PostgreSQL"
		err := db.QueryRow(ctx, `
			SELECT count(*) FROM unnest($2::text[]) AS r(id)
			WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.tenant_id = $1 AND s.receipt_id = r.id)
			  AND NOT EXISTS (SELECT 1 FROM failures f WHERE f.tenant_id = $1 AND f.receipt_id = r.id)`,
			tenant, receipts).Scan(&c.lost)
		if err != nil {
			return c, err
		}
		err = db.QueryRow(ctx, `SELECT count(*) - count(DISTINCT idempotency_key) FROM submissions WHERE tenant_id = $1 AND assignment_id = $2`,
			tenant, assignment).Scan(&c.duplicates)
		return c, err
	}
}

// statusCheck accounts for every accepted receipt through the status
// endpoint: after the drain, one still "queued" (which is also what an
// unknown receipt reads as) or not found counts as lost. Duplicates cannot
// be seen from outside.
func statusCheck(c *client.Client) func(context.Context, []string) (floodCheck, error) {
	return func(ctx context.Context, receipts []string) (floodCheck, error) {
		fc := floodCheck{how: "every receipt's status read through the API", duplicates: -1}
		var lost atomic.Int64
		var firstErr error
		var once sync.Once
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		for _, id := range receipts {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				st, err := c.Status(ctx, id)
				var ae *client.Error
				switch {
				case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
					lost.Add(1)
				case err != nil:
					once.Do(func() { firstErr = err })
				case st.State != schema.StateProcessed && st.State != schema.StateRetrying && st.State != schema.StateDeadLettered:
					lost.Add(1)
				}
			}()
		}
		wg.Wait()
		fc.lost = int(lost.Load())
		return fc, firstErr
	}
}

// machine describes this machine for the report.
func machine() floodreport.Machine {
	m := floodreport.Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown CPU"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %g kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`) + " " + runtime.GOARCH
			}
		}
	}
	return m
}

// versions names turnin's commit and the versions of the parts that matter.
func versions() []floodreport.Setting {
	b := readBuild()
	out := []floodreport.Setting{{Name: "turnin commit", Value: b.commit()}}
	for _, m := range keyDeps {
		if v := b.Deps[m]; v != "" {
			out = append(out, floodreport.Setting{Name: m, Value: v})
		}
	}
	return out
}
