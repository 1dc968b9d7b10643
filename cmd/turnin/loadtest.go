package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/floodreport"
)

// runLoadtest drives a turnin API the way a deadline does: an open-loop
// arrival rate that climbs to a peak, each arrival a student who uploads a
// file and submits it, retrying 503s with jittered backoff and the same
// idempotency key. Latency is measured from each arrival's scheduled time.
// With --report it also samples the assignment's counts and the API's
// memory, waits for the drain, checks every receipt and writes a report.
func runLoadtest(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("loadtest", "Drives a turnin API like a deadline: open loop (latency from each arrival's scheduled\ntime), the rate climbing to a peak and holding until the total is reached. Each\narrival uploads a file through a presigned URL and submits it, retrying 503/429 with\njittered backoff and the same idempotency key. Works against any turnin URL. With\n--report DIR it waits for the backlog to drain, checks every receipt's status and\nwrites report.md with SVG plots and the raw series.")
	var (
		co               clientOpts
		lo               logOpts
		prof             floodProfile
		assignment       string
		createAssignment bool
		reportDir        string
	)
	co.register(f)
	lo.register(f)
	prof.register(f)
	f.String(&assignment, "assignment", "TURNIN_LOADTEST_ASSIGNMENT", "loadtest", "assignment id (one hot assignment, as at a deadline)")
	f.Bool(&createAssignment, "create-assignment", "TURNIN_LOADTEST_CREATE_ASSIGNMENT", true, "create the assignment first, due in a day")
	f.String(&reportDir, "report", "TURNIN_LOADTEST_REPORT", "", "write a report (report.md, SVG plots, raw series) to this folder")
	if err := f.Parse(args); err != nil {
		return err
	}
	prof.withDefaults()
	log, err := lo.logger()
	if err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	c.HTTP = prof.httpClient()
	if createAssignment {
		if err := c.PutAssignment(ctx, assignment, client.Assignment{CourseID: prof.course, DueAt: time.Now().Add(24 * time.Hour).UTC()}); err != nil {
			return fmt.Errorf("create assignment: %w", err)
		}
	}
	t := floodTarget{name: "target", title: "turnin at " + co.url, about: "the API at " + co.url, uploads: c, submits: c, assignment: assignment}
	if reportDir != "" {
		mc := &http.Client{Timeout: 5 * time.Second}
		t.counts, t.rss, t.check = apiCounts(c, assignment), metricsRSS(mc, co.url), statusCheck(c)
	}
	fr, err := driveFlood(ctx, log, prof, t)
	if fr == nil {
		return err
	}
	res := fr.result
	fmt.Fprintf(stdout, "turnin loadtest against %s: %d submissions, rate %.0f/s climbing to %.0f/s over %s\n\n", co.url, prof.total, prof.startRate, prof.peak, prof.ramp)
	fmt.Fprintln(stdout, res.Summary())
	qs := fr.attempts.Quantiles(0.5, 0.99, 0.999)
	fmt.Fprintf(stdout, "\nPOST /v1/submissions, each attempt: %d attempts, P50 %v, P99 %v, P99.9 %v, max %v\nretries (503/429/network, same key): %d\n",
		fr.attempts.Count(), qs[0].Round(time.Microsecond), qs[1].Round(time.Microsecond), qs[2].Round(time.Microsecond),
		fr.attempts.Max().Round(time.Microsecond), fr.path.Retries)
	if reportDir != "" && err == nil {
		rep := &floodreport.Report{Title: "Deadline flood against " + co.url, Started: fr.start, Machine: machine(), Versions: versions(),
			Command: "turnin loadtest " + strings.Join(args, " "),
			Settings: []floodreport.Setting{{Name: "profile", Value: prof.String()},
				{Name: "load generator", Value: "this machine; the target's machine is not described here"}},
			Paths: []*floodreport.Path{fr.path}}
		if _, err := floodreport.Write(reportDir, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report written to %s\n", filepath.Join(reportDir, floodreport.MarkdownFile))
	}
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
