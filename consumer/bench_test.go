package consumer

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/loadgen"

	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// BenchmarkDrain measures how fast a pre-filled topic drains into
// PostgreSQL — uncapped with 1 and 1,000 assignments, with checksum
// verification off and on (small objects), and under a rate cap — beside
// the raw batched insert rate of the same rows (COPY, 500 a transaction,
// no Kafka, no idempotency checks, no counters) measured in the same run.
//
//	TURNIN_BENCH_DRAIN_N=200000 go test -run '^$' -bench Drain -benchtime 1x ./consumer/
func BenchmarkDrain(b *testing.B) {
	n := 200000
	if v := os.Getenv("TURNIN_BENCH_DRAIN_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("raw-copy-insert", func(b *testing.B) {
		e := newEnv(b)
		evs := benchEvents(e, n, 1)
		start := time.Now()
		for i := 0; i < len(evs); i += 500 {
			rawCopy(b, e, evs[i:min(i+500, len(evs))], i)
		}
		report(b, n, time.Since(start))
	})
	for _, c := range []struct {
		name        string
		assignments int
		verify      bool
		rate        float64
		records     int
		// refuseEvery makes every refuseEvery-th event one PostgreSQL
		// refuses (a check constraint), found by splitting its batch.
		refuseEvery int
	}{
		{"assignments=1/verify=off", 1, false, 0, n, 0},
		{"assignments=1000/verify=off", 1000, false, 0, n, 0},
		{"assignments=1/verify=on", 1, true, 0, n / 4, 0},
		{"assignments=1/verify=off/cap=2000", 1, false, 2000, 30000, 0},
		{"assignments=1/verify=off/refused=1-in-10000", 1, false, 0, n, 10000},
		{"assignments=1/verify=off/refused=1-in-1000", 1, false, 0, n, 1000},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b)
			evs := benchEvents(e, c.records, c.assignments)
			want := int64(len(evs))
			if c.refuseEvery > 0 {
				if _, err := e.db.Exec(testenv.Ctx(b, time.Minute),
					`ALTER TABLE submissions ADD CONSTRAINT bench_refused CHECK (student_id NOT LIKE 'refused-%')`); err != nil {
					b.Fatal(err)
				}
				for i := c.refuseEvery / 2; i < len(evs); i += c.refuseEvery {
					ev := evs[i]
					ev.StudentID = fmt.Sprintf("refused-%d", i)
					ev.ObjectKey = schema.StudentPrefix(ev.TenantID, ev.CourseID, ev.AssignmentID, ev.StudentID) + "f.txt"
					ev.RequestDigest = ev.Digest()
					want--
				}
			}
			var steps []Step
			if c.verify {
				// 1,000 small objects, each referenced by many submissions.
				for i := 0; i < 1000 && i < len(evs); i++ {
					e.upload(evs[i], body(evs[i]))
				}
				for i := 1000; i < len(evs); i++ {
					src := evs[i%1000]
					evs[i].ObjectKey, evs[i].StudentID, evs[i].AssignmentID = src.ObjectKey, src.StudentID, src.AssignmentID
					evs[i].SHA256, evs[i].Size = src.SHA256, src.Size
					evs[i].RequestDigest = evs[i].Digest()
				}
				steps = []Step{&VerifyStep{Store: e.store, Fraction: 1, Concurrency: 16}}
			}
			for i := 0; i < len(evs); i += 10000 {
				e.produce(evs[i:min(i+10000, len(evs))]...)
			}
			c2 := e.consumer(withConfig(func(cfg *Config) {
				cfg.BatchSize, cfg.MaxConcurrentTx, cfg.RateLimit, cfg.Steps = benchBatch(), benchTx(), c.rate, steps
			}))
			start := time.Now()
			stop, _ := e.run(c2)
			var first time.Time
			ctx := testenv.Ctx(b, 30*time.Minute)
			for {
				var got int64
				if err := e.db.QueryRow(ctx, `SELECT count(*) FROM submissions`).Scan(&got); err != nil {
					b.Fatal(err)
				}
				if got > 0 && first.IsZero() {
					first = time.Now()
				}
				if got == want {
					break
				}
				select {
				case <-ctx.Done():
					b.Fatalf("drained %d of %d", got, len(evs))
				case <-time.After(50 * time.Millisecond):
				}
			}
			elapsed := time.Since(start)
			_ = stop()
			report(b, len(evs), elapsed)
			if parked := testutilCount(c2.metrics.records.WithLabelValues("failed_" + string(schema.ClassDatabaseRejected))); parked != float64(int64(len(evs))-want) {
				b.Fatalf("%v records dead-lettered as database_rejected, want %d", parked, int64(len(evs))-want)
			}
			if c.rate > 0 {
				// The steady rate, from the first row to the last: the first
				// batch is free (the bucket starts full).
				steady := float64(len(evs)-500) / time.Since(first).Seconds()
				b.ReportMetric(steady, "steady-rows/s")
				b.ReportMetric(100*(steady-c.rate)/c.rate, "cap-error-%")
			}
			var counter int64
			if err := e.db.QueryRow(ctx, `SELECT coalesce(sum(submissions), 0) FROM assignment_counters`).Scan(&counter); err != nil || counter != want {
				b.Fatalf("counters sum to %d (%v), want %d", counter, err, want)
			}
		})
	}
}

func report(b *testing.B, n int, d time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), "rows/s")
	b.ReportMetric(d.Seconds(), "seconds")
	b.Logf("%d rows in %v: %.0f rows/s", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
}

// benchEvents makes n events over 5,000 students and the given number of
// assignments (created here), spread around the due time.
func benchEvents(e *env, n, assignments int) []*schema.Submission {
	ctx := testenv.Ctx(e.t, time.Minute)
	if _, err := e.db.Exec(ctx, `INSERT INTO assignments (tenant_id, assignment_id, course_id, due_at)
		SELECT 'uni-a', 'hw' || i, 'cs101', $1 FROM generate_series(2, $2) AS i`, e.due, assignments); err != nil {
		e.t.Fatal(err)
	}
	out := make([]*schema.Submission, n)
	for i := range out {
		ev := e.event(fmt.Sprintf("s-%05d", i%5000), fmt.Sprintf("k-%07d", i), time.Duration(i%600-300)*time.Second)
		if assignments > 1 {
			ev.AssignmentID = fmt.Sprintf("hw%d", 1+i%assignments)
			ev.ObjectKey = schema.StudentPrefix("uni-a", "cs101", ev.AssignmentID, ev.StudentID) + ev.IdempotencyKey + ".txt"
			ev.RequestDigest = ev.Digest()
		}
		out[i] = ev
	}
	return out
}

// rawCopy is the baseline: the same rows, COPY'd in one transaction, with
// no existence checks and no counters.
func rawCopy(b *testing.B, e *env, evs []*schema.Submission, offset int) {
	rows := make([][]any, len(evs))
	for i, ev := range evs {
		rows[i] = []any{ev.TenantID, ev.ReceiptID, ev.IdempotencyKey, ev.RequestDigest, ev.EventID, ev.CourseID,
			ev.AssignmentID, ev.StudentID, offset + i + 1, ev.ObjectKey, ev.Size, ev.SHA256, ev.ContentType,
			ev.AcceptedAt, false, int64(0), "t", int32(0), int64(offset + i)}
	}
	err := pgx.BeginFunc(context.Background(), e.db, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(context.Background(), pgx.Identifier{"submissions"}, []string{
			"tenant_id", "receipt_id", "idempotency_key", "request_digest", "event_id", "course_id", "assignment_id",
			"student_id", "attempt", "object_key", "size", "sha256", "content_type", "accepted_at", "late",
			"seconds_late", "source_topic", "source_partition", "source_offset"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// benchBatch is the consumer batch size; TURNIN_BENCH_BATCH overrides it.
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("TURNIN_BENCH_BATCH")); err == nil {
		return n
	}
	return DefaultBatchSize
}

// benchTx is the consumer's transactions per batch; TURNIN_BENCH_TX overrides it.
func benchTx() int {
	if n, err := strconv.Atoi(os.Getenv("TURNIN_BENCH_TX")); err == nil {
		return n
	}
	return DefaultMaxConcurrentTx
}

// BenchmarkRetryTiers drains a topic where 5 % of submissions fail once
// with a retryable error (a step that fails them on the main topic only),
// beside the same drain with no failures in the same run: the main
// consumer's throughput while it routes failures into the tier, and how
// late the tier hands each record to processing after its due time.
//
//	TURNIN_BENCH_DRAIN_N=50000 go test -run '^$' -bench RetryTiers -benchtime 1x ./consumer/
func BenchmarkRetryTiers(b *testing.B) {
	n := 50000
	if v := os.Getenv("TURNIN_BENCH_DRAIN_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	const delay = time.Second
	for _, pct := range []float64{0, 5} {
		b.Run(fmt.Sprintf("failing=%.0f%%", pct), func(b *testing.B) {
			e := newEnv(b)
			if err := kafka.EnsureTopics(testenv.Ctx(b, 30*time.Second), e.producer, e.kafka.Config(b), kafka.Topics(e.kafka.Topic, 1)...); err != nil {
				b.Fatal(err)
			}
			evs := benchEvents(e, n, 1)
			for i := 0; i < len(evs); i += 10000 {
				e.produce(evs[i:min(i+10000, len(evs))]...)
			}
			lateness := &loadgen.Histogram{}
			cfg := Config{Kafka: e.kafka.Config(b), Group: e.group, RetryDelays: []time.Duration{delay},
				Steps: []Step{failFirstTry{pct / 100}}}
			cs, err := Tiers(cfg, Deps{DB: e.db, Logger: testenv.Logger(b), Registry: prometheus.NewRegistry()}, e.producer)
			if err != nil {
				b.Fatal(err)
			}
			cs[1].observeGate = func(d time.Duration) { lateness.Record(d) }
			start := time.Now()
			for _, c := range cs {
				e.run(c)
			}
			// The main consumer's part: every record it could process.
			e.waitCount(fmt.Sprintf(`SELECT (count(*) >= %d)::int FROM submissions`, int(float64(n)*(1-pct/100))), 1)
			mainDone := time.Since(start)
			e.waitCount(`SELECT count(*) FROM submissions`, int64(n))
			all := time.Since(start)
			b.ReportMetric(float64(n)/mainDone.Seconds(), "main-records/s")
			b.ReportMetric(all.Seconds(), "all-processed-s")
			if lateness.Count() > 0 {
				b.ReportMetric(float64(lateness.Quantile(0.5))/1e6, "gate-late-p50-ms")
				b.ReportMetric(float64(lateness.Quantile(0.99))/1e6, "gate-late-p99-ms")
				b.ReportMetric(float64(lateness.Max())/1e6, "gate-late-max-ms")
				if lateness.Min() < 0 {
					b.Fatalf("a tier processed a record %v before it was due", -lateness.Min())
				}
			}
		})
	}
}

// failFirstTry fails a fixed share of submissions, chosen by receipt id,
// with a retryable error while they are on the main topic.
type failFirstTry struct{ share float64 }

func (failFirstTry) Name() string { return "fail-first-try" }

func (f failFirstTry) Process(_ context.Context, items []*Item) error {
	for _, it := range items {
		if Attempt(it.Record) == 0 && sampled(it.Event.ReceiptID, f.share) {
			it.Err = Retryable(schema.ClassWebhookFailed, errTest)
		}
	}
	return nil
}
