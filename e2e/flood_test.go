package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/loadgen"
	"github.com/turnin-dev/turnin/schema"
)

// kind is what a prepared submission is meant to exercise.
type kind int

const (
	good    kind = iota // a valid upload: ends processed
	poison              // stored without a checksum and declared with a wrong one: accepted, then dead-lettered by verification
	missing             // never uploaded: refused with 422
)

type item struct {
	key  string
	kind kind
	req  client.SubmitRequest
}

// prepare uploads what a flood of n submissions will reference. Every
// poisonEvery-th is poison and every missingEvery-th is missing (0: none).
func (s *stack) prepare(ctx context.Context, n, poisonEvery, missingEvery int) []item {
	s.t.Helper()
	s.batches++
	run := fmt.Sprintf("r%s-%d", strings.TrimPrefix(s.topic, "e2e."), s.batches)
	items := make([]item, n)
	mc, err := minio.New(strings.TrimPrefix(s.s3.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.s3.AccessKey, s.s3.SecretKey, ""), Region: s.s3.Region})
	if err != nil {
		s.t.Fatal(err)
	}
	c := s.client(30 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range items {
		k := good
		switch {
		case missingEvery > 0 && i%missingEvery == missingEvery-1:
			k = missing
		case poisonEvery > 0 && i%poisonEvery == poisonEvery-1:
			k = poison
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, k kind) {
			defer wg.Done()
			defer func() { <-sem }()
			body := []byte(fmt.Sprintf("%s submission %06d: %s", run, i, strings.Repeat("x", 200)))
			sum := sha256.Sum256(body)
			student := fmt.Sprintf("s-%04d", i%500)
			up, err := c.RequestUpload(ctx, client.UploadRequest{CourseID: e2eCourse, AssignmentID: e2eAssignment, StudentID: student,
				Filename: "essay.txt", ContentType: "text/plain", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
			if err != nil {
				errs <- err
				return
			}
			declared := hex.EncodeToString(sum[:])
			switch k {
			case good:
				err = c.PutObject(ctx, up, body)
			case poison:
				other := sha256.Sum256(append(body, '!'))
				declared = hex.EncodeToString(other[:])
				_, err = mc.PutObject(ctx, s.s3.Bucket, up.ObjectKey, strings.NewReader(string(body)), int64(len(body)),
					minio.PutObjectOptions{ContentType: "text/plain", DisableContentSha256: true})
			}
			if err != nil {
				errs <- err
				return
			}
			items[i] = item{key: fmt.Sprintf("%s-%06d", run, i), kind: k, req: client.SubmitRequest{CourseID: e2eCourse,
				AssignmentID: e2eAssignment, StudentID: student, ObjectKey: up.ObjectKey, Size: int64(len(body)),
				SHA256: declared, ContentType: "text/plain"}}
		}(i, k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Fatalf("preparing uploads: %v", err)
	}
	return items
}

type floodOpts struct {
	rate float64
	// retry resends 503s, 429s, timeouts and broken connections with the
	// same idempotency key, with jittered backoff, for budget.
	retry   bool
	budget  time.Duration
	timeout time.Duration // one request
}

// floodResult is what the clients saw.
type floodResult struct {
	ledger *Ledger
	// accepted is the latency of every attempt answered 2xx.
	accepted *loadgen.Histogram
	run      *loadgen.Result
}

// flood sends items open loop at o.rate, recording every attempt.
func (s *stack) flood(ctx context.Context, items []item, o floodOpts) floodResult {
	s.t.Helper()
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	if o.budget == 0 {
		o.budget = 90 * time.Second
	}
	res := floodResult{ledger: NewLedger(), accepted: loadgen.NewHistogram()}
	c := s.client(o.timeout)
	op := func(ctx context.Context, seq int) (string, error) {
		it := items[seq]
		receipt := schema.ReceiptID(e2eTenant, it.key)
		bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
		deadline := time.Now().Add(o.budget)
		for {
			a := Attempt{Sent: time.Now()}
			_, err := c.Submit(ctx, it.key, it.req)
			a.Answered = time.Now()
			var ae *client.Error
			switch {
			case err == nil:
				a.Status = 202
				res.accepted.Record(a.Answered.Sub(a.Sent))
			case errors.As(err, &ae):
				a.Status, a.Code = ae.Status, string(ae.Code)
			default:
				a.Err = err.Error()
			}
			res.ledger.Record(it.key, receipt, a)
			retryable := a.Status == 0 || (ae != nil && ae.Temporary())
			if a.Status != 0 && !retryable {
				return fmt.Sprint(a.Status), nil
			}
			if !o.retry || time.Now().After(deadline) || ctx.Err() != nil {
				if a.Status == 0 {
					return "no answer", err
				}
				return fmt.Sprint(a.Status), nil
			}
			wait := bo.Next()
			if ae != nil && ae.RetryAfter > wait {
				wait = ae.RetryAfter
			}
			if !backoff.Sleep(ctx, wait) {
				return "canceled", ctx.Err()
			}
		}
	}
	run, err := loadgen.Run(ctx, loadgen.Config{Rate: o.rate, Count: len(items), MaxOutstanding: 512,
		Timeout: o.budget + 2*o.timeout, Grace: o.budget + 2*o.timeout}, op)
	if err != nil && run == nil {
		s.t.Fatal(err)
	}
	res.run = run
	return res
}

// settle waits until every acknowledged submission, and every receipt on
// the log, has a row or a dead-letter entry; then returns the final picture.
func (s *stack) settle(ctx context.Context, l *Ledger, d time.Duration) Observed {
	s.t.Helper()
	var want []string
	for _, sub := range l.Submissions() {
		if sub.Class() == Acknowledged {
			want = append(want, sub.ReceiptID)
		}
	}
	deadline := time.Now().Add(d)
	wait := func(ids []string, what string) {
		for {
			o := s.observeDB(ctx)
			left := 0
			for _, id := range ids {
				if o.Rows[id] == 0 && !o.DeadLettered[id] {
					left++
				}
			}
			if left == 0 {
				return
			}
			if time.Now().After(deadline) {
				s.t.Errorf("%d of %d %s receipts still have no row and no dead-letter entry after %v", left, len(ids), what, d)
				return
			}
			if !backoff.Sleep(ctx, 200*time.Millisecond) {
				s.t.Fatal(ctx.Err())
			}
		}
	}
	wait(want, "acknowledged")
	onLog := s.readLog(ctx)
	var logged []string
	for id := range onLog {
		logged = append(logged, id)
	}
	wait(logged, "logged")
	o := s.observeDB(ctx)
	o.OnLog = s.readLog(ctx)
	return o
}

// drained reports whether every acknowledged submission has a row or a
// dead-letter entry.
func (s *stack) drained(ctx context.Context, l *Ledger) bool {
	o := s.observeDB(ctx)
	for _, sub := range l.Submissions() {
		if sub.Class() == Acknowledged && o.Rows[sub.ReceiptID] == 0 && !o.DeadLettered[sub.ReceiptID] {
			return false
		}
	}
	return true
}

// observeDB reads the rows and dead letters of the scenario's tenant,
// retrying for a while when the database is away (a scenario restarts it,
// which breaks the pool's open connections).
func (s *stack) observeDB(ctx context.Context) Observed {
	s.t.Helper()
	var (
		o   Observed
		err error
	)
	for range 50 {
		if o, err = s.tryObserveDB(ctx); err == nil {
			return o
		}
		if !backoff.Sleep(ctx, 200*time.Millisecond) {
			break
		}
	}
	s.t.Fatalf("reading the database: %v", err)
	return o
}

func (s *stack) tryObserveDB(ctx context.Context) (Observed, error) {
	o := Observed{Rows: map[string]int{}, DeadLettered: map[string]bool{}}
	rows, err := s.db.Query(ctx, `SELECT receipt_id, count(*) FROM submissions WHERE tenant_id = $1 GROUP BY 1`, e2eTenant)
	if err != nil {
		return o, err
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return o, err
		}
		o.Rows[id] = n
	}
	if err := rows.Err(); err != nil {
		return o, err
	}
	rows, err = s.db.Query(ctx, `SELECT DISTINCT receipt_id FROM failures WHERE tenant_id = $1 AND state = 'dead_lettered' AND topic = $2`,
		e2eTenant, schema.DeadLetterTopic(s.topic))
	if err != nil {
		return o, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return o, err
		}
		o.DeadLettered[id] = true
	}
	return o, rows.Err()
}

// readLog reads the submissions topic from the start to its current end
// and counts the records per receipt id.
func (s *stack) readLog(ctx context.Context) map[string]int {
	s.t.Helper()
	ends, err := kafka.EndOffsets(ctx, s.admin, s.topic)
	if err != nil {
		s.t.Fatal(err)
	}
	left := map[int32]int64{}
	for p, o := range ends {
		if o > 0 {
			left[p] = o
		}
	}
	out := map[string]int{}
	if len(left) == 0 {
		return out
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(s.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			s.t.Fatalf("reading %s: %v (partitions left: %v)", s.topic, rctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if ev, err := schema.DecodeSubmission(r.Value); err == nil {
				out[ev.ReceiptID]++
			} else {
				out["undecodable"]++
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out
}
