package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/loadgen"
)

// runLoadtest drives a turnin API the way a deadline does: an open-loop
// arrival rate that climbs to a peak, each arrival a student who uploads a
// file and submits it, retrying 503s with jittered backoff and the same
// idempotency key. Latency is measured from each arrival's scheduled time.
func runLoadtest(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("loadtest", "Drives a turnin API like a deadline: open loop (latency from each arrival's scheduled\ntime), the rate climbing to a peak and holding until the total is reached. Each\narrival uploads a file through a presigned URL and submits it, retrying 503/429 with\njittered backoff and the same idempotency key. Works against any turnin URL.")
	var (
		co                        clientOpts
		lo                        logOpts
		course, assignment        string
		total, students, fileSize int
		peak, startRate           float64
		ramp, timeout, budget     time.Duration
		maxOutstanding            int
		createAssignment          bool
	)
	co.register(f)
	lo.register(f)
	f.String(&course, "course", "TURNIN_LOADTEST_COURSE", "cs101", "course id")
	f.String(&assignment, "assignment", "TURNIN_LOADTEST_ASSIGNMENT", "loadtest", "assignment id (one hot assignment, as at a deadline)")
	f.Bool(&createAssignment, "create-assignment", "TURNIN_LOADTEST_CREATE_ASSIGNMENT", true, "create the assignment first, due in a day")
	f.Int(&total, "total", "TURNIN_LOADTEST_TOTAL", 40000, "submissions in the flood")
	f.Float64(&peak, "peak", "TURNIN_LOADTEST_PEAK", 10000, "peak arrival rate, submissions per second")
	f.Float64(&startRate, "start-rate", "TURNIN_LOADTEST_START_RATE", 0, "arrival rate at the start (default: 5 % of the peak)")
	f.Duration(&ramp, "ramp", "TURNIN_LOADTEST_RAMP", 5*time.Second, "how long the rate climbs to the peak")
	f.Int(&students, "students", "TURNIN_LOADTEST_STUDENTS", 10000, "distinct students (arrivals cycle through them)")
	f.Int(&fileSize, "file-size", "TURNIN_LOADTEST_FILE_SIZE", 4096, "bytes per uploaded file")
	f.Int(&maxOutstanding, "max-outstanding", "TURNIN_LOADTEST_MAX_OUTSTANDING", 2000, "submissions in flight at once (a client connection pool); later arrivals wait, and their wait counts")
	f.Duration(&timeout, "timeout", "TURNIN_LOADTEST_TIMEOUT", 10*time.Second, "one HTTP request's timeout")
	f.Duration(&budget, "retry-budget", "TURNIN_LOADTEST_RETRY_BUDGET", 2*time.Minute, "how long one student keeps retrying before giving up")
	if err := f.Parse(args); err != nil {
		return err
	}
	log, err := lo.logger()
	if err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	c.HTTP = &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: maxOutstanding, MaxIdleConnsPerHost: maxOutstanding, MaxConnsPerHost: maxOutstanding}}
	if createAssignment {
		if err := c.PutAssignment(ctx, assignment, client.Assignment{CourseID: course, DueAt: time.Now().Add(24 * time.Hour).UTC()}); err != nil {
			return fmt.Errorf("create assignment: %w", err)
		}
	}
	if startRate == 0 {
		startRate = peak / 20
	}
	run := fmt.Sprintf("lt%d", time.Now().UnixNano())
	var retries atomic.Int64
	accept := &loadgen.Histogram{}
	op := func(ctx context.Context, seq int) (string, error) {
		student := fmt.Sprintf("s-%06d", seq%students)
		body := fileContent(run, seq, fileSize)
		sum := sha256.Sum256(body)
		up, err := c.RequestUpload(ctx, client.UploadRequest{CourseID: course, AssignmentID: assignment, StudentID: student,
			Filename: "submission.bin", ContentType: "application/octet-stream", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
		if err != nil {
			return outcome(err), err
		}
		if err := c.PutObject(ctx, up, body); err != nil {
			return "upload_failed", err
		}
		req := client.SubmitRequest{CourseID: course, AssignmentID: assignment, StudentID: student, ObjectKey: up.ObjectKey,
			Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), ContentType: "application/octet-stream"}
		key := fmt.Sprintf("%s-%d", run, seq)
		bo := backoff.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}
		deadline := time.Now().Add(budget)
		for {
			start := time.Now()
			_, err := c.Submit(ctx, key, req)
			accept.Record(time.Since(start))
			if err == nil {
				return "accepted", nil
			}
			var ae *client.Error
			temporary := !errors.As(err, &ae) || ae.Temporary()
			if !temporary || time.Now().After(deadline) {
				return outcome(err), err
			}
			retries.Add(1)
			wait := bo.Next()
			if ae != nil && ae.RetryAfter > 0 {
				wait = max(wait, ae.RetryAfter)
			}
			if !backoff.Sleep(ctx, wait) {
				return "canceled", ctx.Err()
			}
		}
	}
	cfg := loadgen.Config{Rate: peak, RampFrom: startRate, RampDuration: ramp, Count: total, MaxOutstanding: maxOutstanding,
		Timeout: budget + 2*timeout, Grace: budget + 2*timeout,
		Progress: func(s loadgen.Snapshot) {
			log.Info("loadtest progress", "elapsed", s.Elapsed.Round(time.Second), "target_rate", int(s.TargetRate),
				"scheduled", s.Scheduled, "accepted", s.OK, "failed", s.Errors, "in_flight", s.Outstanding, "waiting", s.Waiting,
				"p99", s.P99.Round(time.Millisecond), "retries", retries.Load())
		}}
	res, err := loadgen.Run(ctx, cfg, op)
	if err != nil && res == nil {
		return err
	}
	fmt.Fprintf(stdout, "turnin loadtest against %s: %d submissions, rate %.0f/s climbing to %.0f/s over %s\n\n", co.url, total, startRate, peak, ramp)
	fmt.Fprintln(stdout, res.Summary())
	qs := accept.Quantiles(0.5, 0.99, 0.999)
	fmt.Fprintf(stdout, "\nPOST /v1/submissions, each attempt: %d attempts, P50 %v, P99 %v, P99.9 %v, max %v\nretries (503/429/network, same key): %d\n",
		accept.Count(), qs[0].Round(time.Microsecond), qs[1].Round(time.Microsecond), qs[2].Round(time.Microsecond),
		accept.Max().Round(time.Microsecond), retries.Load())
	return err
}

func outcome(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d_%s", ae.Status, ae.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network_error"
}

// fileContent is a file unique to one arrival of one run.
func fileContent(run string, seq, size int) []byte {
	b := make([]byte, max(size, 16))
	copy(b, run)
	binary.BigEndian.PutUint64(b[len(b)-8:], uint64(seq))
	return b
}
