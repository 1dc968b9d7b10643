package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/bare"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/dlq"
	"github.com/turnin-dev/turnin/platform/floodreport"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/schema"
)

// floodOptions configures `turnin flood`.
type floodOptions struct {
	prof        floodProfile
	report      string
	paths       []string
	databaseURL string
	brokers     []string
	topic       string
	fsync       bool
	objectCheck string
	verify      float64
	command     string // the command line, for the report
}

// runFlood is `turnin flood`: the side-by-side report in one command.
func runFlood(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("flood", "Runs one deadline flood, with the same profile, against three paths started here over one\n"+
		"broker, one object store and one PostgreSQL: the bare baseline (a minimal handler producing\n"+
		"the same record), turnin's queue path, and the synchronous comparison baseline\n"+
		"(TURNIN_ACCEPT_MODE=sync); then writes the side-by-side report (report.md, SVG plots, raw\n"+
		"series) to --report. The broker is embedded unless --kafka-brokers names a cluster.")
	var (
		o            floodOptions
		lo           logOpts
		paths, seeds string
	)
	o.prof.register(f)
	lo.register(f)
	f.String(&o.report, "report", "TURNIN_FLOOD_REPORT", "flood-report", "folder the report is written to")
	f.String(&paths, "paths", "TURNIN_FLOOD_PATHS", "bare,queue,sync", "paths to flood, in this order: bare, queue, sync")
	f.String(&o.databaseURL, "database-url", "TURNIN_DATABASE_URL", DefaultDatabaseURL, "PostgreSQL URL")
	f.String(&seeds, "kafka-brokers", "TURNIN_KAFKA_BROKERS", "", "seed brokers of a Kafka cluster to use (default: an embedded broker)")
	f.String(&o.topic, "topic", "TURNIN_TOPIC", schema.DefaultTopic, "main topic (retry, dead-letter and bare topics are named after it); pick a fresh one on a shared cluster")
	f.Bool(&o.fsync, "fsync", "TURNIN_FLOOD_FSYNC", true, "embedded broker: fsync every write before acknowledging (the turnin dev default)")
	f.String(&o.objectCheck, "object-check", "TURNIN_OBJECT_CHECK", string(api.ObjectCheckHead), "head or deferred (see turnin api -h); applies to the queue and sync paths")
	f.Float64(&o.verify, "verify-fraction", "TURNIN_VERIFY_FRACTION", 1, "share of submissions whose object the consumer verifies")
	if err := f.Parse(args); err != nil {
		return err
	}
	o.paths, o.brokers = splitList(paths), splitList(seeds)
	// Absolute now: the embedded S3 gateway changes the working directory.
	report, err := filepath.Abs(o.report)
	if err != nil {
		return err
	}
	o.report = report
	o.command = "turnin flood " + strings.Join(args, " ")
	log, err := lo.logger()
	if err != nil {
		return err
	}
	rep, stop, err := flood(ctx, log, o)
	if err != nil {
		return err
	}
	files, err := floodreport.Write(o.report, rep)
	log.Info("flood: stopping and removing the temporary data (the objects of every path)")
	stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report written to %s (%d files); open %s\n", o.report, len(files), filepath.Join(o.report, floodreport.MarkdownFile))
	for _, p := range rep.Paths {
		fmt.Fprintf(stdout, "  %-34s accepted %d/%d, P50 %.1f ms, P99 %.1f ms, P99.9 %.1f ms, retries %d, lost %d\n",
			p.Title, p.Accepted, p.Scheduled, p.P50, p.P99, p.P999, p.Retries, p.Lost)
	}
	return nil
}

// flood starts the stack, floods every path in turn and assembles the
// report. stop stops the stack and removes its data; it may take a while.
func flood(ctx context.Context, log *slog.Logger, o floodOptions) (_ *floodreport.Report, stop func(), err error) {
	o.prof.withDefaults()
	dir, err := os.MkdirTemp("", "turnin-flood-")
	if err != nil {
		return nil, nil, err
	}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	stops = append(stops, func() { _ = os.RemoveAll(dir) })
	d, err := StartDev(ctx, DevConfig{
		DataDir: dir, DatabaseURL: o.databaseURL, HTTPAddr: "127.0.0.1:0", SyncWrites: o.fsync, KafkaBrokers: o.brokers,
		Kafka: kafka.Config{Topic: o.topic, Logger: log}.WithDefaults(), S3: objstore.Config{}.WithDefaults(),
		API: api.Config{ObjectCheck: api.ObjectCheck(o.objectCheck)}, VerifyFraction: o.verify, Logger: log,
		// Its own consumer group, so a flood on a shared cluster never
		// joins another deployment's group.
		Consumer: consumer.Config{Group: "turnin-flood." + o.topic},
	})
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, d.Close)
	rctx, cancel := context.WithCancel(ctx)
	var serving []chan error
	hc := o.prof.httpClient()
	mc := &http.Client{Timeout: 5 * time.Second}
	stops = append(stops, func() {
		// Idle keep-alive connections would hold the servers' shutdown.
		hc.CloseIdleConnections()
		mc.CloseIdleConnections()
		cancel()
		for _, c := range serving {
			if err := <-c; err != nil {
				log.Warn("flood: a server stopped with an error", "err", err)
			}
		}
	})
	serve := func(run func(context.Context) error) {
		c := make(chan error, 1)
		serving = append(serving, c)
		go func() { c <- run(rctx) }()
	}
	serve(d.Run)

	kcfg := d.cfg.Kafka
	// The synchronous baseline: the same server, in sync mode, over the same
	// deps. Each path's assignment is created through the server that takes
	// its submissions, so that server's snapshot knows it at once.
	_, syncKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	syncSrv, err := api.New(api.Config{ObjectCheck: api.ObjectCheck(o.objectCheck), AcceptMode: api.AcceptSync,
		ReceiptKey: syncKey, ReceiptKeyID: "flood-sync"},
		api.Deps{Producer: d.Producer, Topic: kcfg.Topic, Store: d.Store, DB: d.DB, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	syncURL, syncLn, err := listen(ctx)
	if err != nil {
		return nil, nil, err
	}
	serve(func(ctx context.Context) error { return syncSrv.Run(ctx, syncLn) })
	// The bare baseline produces to its own topic on the same broker, so no
	// consumer reads its records.
	bareTopic := kcfg.Topic + ".bare"
	if err := kafka.EnsureTopics(ctx, d.Producer, kcfg, bareTopic); err != nil {
		return nil, nil, err
	}
	bareURL, bareLn, err := listen(ctx)
	if err != nil {
		return nil, nil, err
	}
	bareHTTP := &http.Server{Handler: bare.Handler(d.Producer, bareTopic, DevTenant), ReadHeaderTimeout: 10 * time.Second}
	serve(func(ctx context.Context) error {
		go func() { <-ctx.Done(); _ = bareHTTP.Close() }()
		if err := bareHTTP.Serve(bareLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	mk := func(url string) *client.Client {
		c := client.New(url, d.APIKey)
		c.HTTP = hc
		return c
	}
	queueC, syncC, bareC := mk(d.URL), mk(syncURL), mk(bareURL)
	rss := metricsRSS(mc, d.URL) // one process serves all three
	broker := "embedded kfake (fsync per write: " + fmt.Sprint(o.fsync) + ")"
	if len(o.brokers) > 0 {
		broker = "Kafka cluster " + strings.Join(o.brokers, ",") + ", replication factor " + fmt.Sprint(kcfg.ReplicationFactor)
	}
	run := time.Now().Format("150405")
	targets := map[string]func() floodTarget{
		"bare": func() floodTarget {
			return floodTarget{name: "bare", title: "Bare handler", uploads: queueC, submits: bareC, assignment: "flood-bare-" + run, rss: rss,
				about: "decode the body, produce the same event record (acks=all, idempotent) to the same broker, answer 202; no auth, validation, deadline, object check or signature; uploads go through turnin's API"}
		},
		"queue": func() floodTarget {
			a := "flood-queue-" + run
			return floodTarget{name: "queue", title: "Queue-based pipeline (turnin)", uploads: queueC, submits: queueC, assignment: a,
				counts: apiCounts(queueC, a), rss: rss, check: dbCheck(d.DB, DevTenant, a),
				about: "turnin's accept path (object check " + o.objectCheck + ", produce acks=all, signed receipt, 202); consumers write PostgreSQL behind it"}
		},
		"sync": func() floodTarget {
			a := "flood-sync-" + run
			return floodTarget{name: "sync", title: "Synchronous write", uploads: syncC, submits: syncC, assignment: a,
				counts: apiCounts(syncC, a), rss: rss, check: dbCheck(d.DB, DevTenant, a),
				about: fmt.Sprintf("TURNIN_ACCEPT_MODE=sync, the essay's naive path: one transaction per submission writing the row, the enrollment and the hot per-assignment counter before answering 200 (pool of %d connections)", d.DB.Config().MaxConns)}
		},
	}
	rep := &floodreport.Report{Title: "Deadline flood: queue versus synchronous write", Started: time.Now(), Machine: machine(),
		Versions: versions(), Command: o.command,
		Settings: []floodreport.Setting{
			{Name: "profile", Value: o.prof.String()},
			{Name: "broker", Value: broker},
			{Name: "object check", Value: o.objectCheck},
			{Name: "consumer verification", Value: fmt.Sprintf("%g of submissions", o.verify)},
			{Name: "database pool", Value: fmt.Sprintf("%d connections (pool_max_conns in the URL)", d.DB.Config().MaxConns)},
			{Name: "load generator", Value: "in the same process as the servers, sharing the same cores"},
		}}
	var loads []string
	for _, name := range o.paths {
		mkTarget, ok := targets[name]
		if !ok {
			return nil, nil, fmt.Errorf("--paths: unknown path %q (bare, queue, sync)", name)
		}
		t := mkTarget()
		if err := t.uploads.PutAssignment(ctx, t.assignment, client.Assignment{CourseID: o.prof.course, DueAt: time.Now().Add(24 * time.Hour).UTC()}); err != nil {
			return nil, nil, fmt.Errorf("create assignment: %w", err)
		}
		log.Info("flood starting", "path", name, "profile", o.prof.String())
		loadBefore := loadAverage()
		fr, err := driveFlood(ctx, log, o.prof, t)
		if err != nil {
			return nil, nil, err
		}
		loads = append(loads, fmt.Sprintf("%s %s → %s", t.title, loadBefore, loadAverage()))
		if t.name == "queue" {
			fr.path.Audit = auditWindow(ctx, kcfg, d.cfg.Consumer.WithDefaults().GroupID(), fr.start, d)
		}
		rep.Paths = append(rep.Paths, fr.path)
		hc.CloseIdleConnections()
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("The machine's 1-minute load average at the start and end of each path (%d cores, shared with whatever else runs): %s. "+
		"The paths run one after the other, so a load that changes between them moves their figures; compare the ratios with that in mind.",
		runtime.NumCPU(), strings.Join(loads, "; ")))
	return rep, stop, nil
}

// loadAverage is the 1-minute load average, "?" where /proc has none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// auditWindow runs `turnin audit` over the flood's window and says what it found.
func auditWindow(ctx context.Context, kcfg kafka.Config, group string, since time.Time, d *Dev) string {
	r, err := dlq.Audit(ctx, dlq.AuditConfig{Kafka: kcfg, Group: group, Since: since.Add(-time.Second), Until: time.Now().Add(time.Second)}, d.DB)
	if err != nil {
		return "did not run: " + err.Error()
	}
	return fmt.Sprintf("%d records, %d receipts: %d processed, %d retrying, %d dead-lettered, %d queued, %d gone.",
		r.Records, r.Receipts, r.Processed, r.Retrying, r.DeadLettered, r.Queued, len(r.Gone))
}

func listen(ctx context.Context) (string, net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return "http://" + ln.Addr().String(), ln, nil
}
