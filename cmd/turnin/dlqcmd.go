package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/turnin-dev/turnin/dlq"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

type filterOpts struct {
	since, until, class, tenant, assignment, receipts, state string
	limit                                                    int
}

func (o *filterOpts) register(f *flags, withState bool) {
	f.String(&o.since, "since", "TURNIN_DLQ_SINCE", "", "only failures at or after this time (RFC 3339, or a duration ago such as 2h)")
	f.String(&o.until, "until", "TURNIN_DLQ_UNTIL", "", "only failures before this time (RFC 3339, or a duration ago)")
	f.String(&o.class, "class", "TURNIN_DLQ_CLASS", "", "only this error class, e.g. checksum_mismatch")
	f.String(&o.tenant, "tenant", "TURNIN_DLQ_TENANT", "", "only this tenant")
	f.String(&o.assignment, "assignment", "TURNIN_DLQ_ASSIGNMENT", "", "only this assignment")
	f.String(&o.receipts, "receipts", "TURNIN_DLQ_RECEIPTS", "", "only these receipt ids (comma-separated)")
	if withState {
		f.String(&o.state, "state", "TURNIN_DLQ_STATE", "", "retrying or dead_lettered (default: both)")
	}
	f.Int(&o.limit, "limit", "TURNIN_DLQ_LIMIT", 0, "at most this many (0: all)")
}

func parseWhen(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		t := time.Now().Add(-d)
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return &t, nil
}

func (o *filterOpts) filter() (pgstore.FailureFilter, error) {
	f := pgstore.FailureFilter{State: o.state, Class: o.class, Tenant: o.tenant, Assignment: o.assignment,
		ReceiptIDs: splitList(o.receipts), Limit: o.limit}
	var err error
	if f.Since, err = parseWhen(o.since); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(o.until); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if f.State != "" && f.State != pgstore.FailureRetrying && f.State != pgstore.FailureDeadLettered {
		return f, fmt.Errorf("--state: %q is neither retrying nor dead_lettered", f.State)
	}
	return f, nil
}

func runDLQ(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: turnin dlq index | list | show TOPIC/PARTITION/OFFSET | redrive")
	}
	switch args[0] {
	case "index":
		return runDLQIndex(ctx, args[1:])
	case "list":
		return runDLQList(ctx, args[1:], stdout)
	case "show":
		return runDLQShow(ctx, args[1:], stdout)
	case "redrive":
		return runDLQRedrive(ctx, args[1:], stdout)
	}
	return fmt.Errorf("turnin dlq: unknown subcommand %q (index, list, show, redrive)", args[0])
}

func runDLQIndex(ctx context.Context, args []string) error {
	f := newFlags("dlq index", "Indexes every record of the retry tiers and the dead-letter topic in PostgreSQL, so\nstatus says retrying or dead_lettered, and alerts on new dead letters.")
	var (
		lo      logOpts
		db      dbOpts
		ko      kafkaOpts
		co      consumerOpts
		webhook string
	)
	lo.register(f)
	db.register(f)
	ko.register(f, true)
	co.register(f)
	f.String(&webhook, "alert-webhook", "TURNIN_ALERT_WEBHOOK", "", "POST a summary of new dead letters here (optional; the counter turnin_dead_letters_total always counts)")
	if err := f.Parse(args); err != nil {
		return err
	}
	b, err := connect(ctx, &lo, &db, &ko)
	if err != nil {
		return err
	}
	defer b.close()
	logStart(b.log)
	delays, err := co.delays()
	if err != nil {
		return err
	}
	ix := dlq.NewIndexer(dlq.IndexerConfig{Kafka: b.kcfg, RetryDelays: delays}, b.pool, dlq.NewAlerter(webhook, nil, b.log), b.log)
	b.log.Info("dlq indexer starting", "topics", ix.Topics())
	return ix.Run(ctx)
}

func runDLQList(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dlq list", "Lists failed records, oldest first: where they are, why, and for which receipt.")
	var (
		db     dbOpts
		fo     filterOpts
		asJSON bool
	)
	db.register(f)
	fo.register(f, true)
	f.Bool(&asJSON, "json", "TURNIN_DLQ_JSON", false, "print JSON lines instead of a table")
	if err := f.Parse(args); err != nil {
		return err
	}
	filter, err := fo.filter()
	if err != nil {
		return err
	}
	pool, err := pgstore.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	fs, err := pgstore.ListFailures(ctx, pool, filter)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for i := range fs {
			if err := enc.Encode(failureView(&fs[i])); err != nil {
				return err
			}
		}
		return nil
	}
	printFailures(stdout, fs)
	return nil
}

func printFailures(w io.Writer, fs []pgstore.Failure) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tSTATE\tCLASS\tATTEMPT\tLAST FAILURE\tTENANT\tRECEIPT\tREDRIVEN")
	for _, f := range fs {
		redriven := "-"
		if f.RedriveID != nil {
			redriven = fmt.Sprint(*f.RedriveID)
		}
		fmt.Fprintf(tw, "%s/%d/%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Topic, f.Partition, f.Offset, f.State, f.ErrorClass,
			f.Attempt, f.LastFailureAt.UTC().Format(time.RFC3339), dash(f.TenantID), dash(f.ReceiptID), redriven)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d record(s)\n", len(fs))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// failureView is a failure as printed: no payload bytes beyond the value
// as text, never in logs.
func failureView(f *pgstore.Failure) map[string]any {
	v := map[string]any{
		"record": fmt.Sprintf("%s/%d/%d", f.Topic, f.Partition, f.Offset), "state": f.State,
		"error_class": f.ErrorClass, "error_message": f.ErrorMsg, "attempt": f.Attempt,
		"first_failure_at": f.FirstFailureAt, "last_failure_at": f.LastFailureAt, "next_attempt_at": f.NextAttemptAt,
		"origin": fmt.Sprintf("%s/%d/%d", f.OriginTopic, f.OriginPartition, f.OriginOffset), "origin_group": f.OriginGroup,
		"tenant_id": f.TenantID, "receipt_id": f.ReceiptID, "assignment_id": f.AssignmentID, "student_id": f.StudentID,
		"redrive_id": f.RedriveID,
	}
	return v
}

func runDLQShow(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dlq show", "Shows one failed record whole: headers and value. Name it TOPIC/PARTITION/OFFSET or by receipt id.")
	var db dbOpts
	db.register(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return errors.New("usage: turnin dlq show TOPIC/PARTITION/OFFSET | RECEIPT_ID")
	}
	pool, err := pgstore.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	arg := f.fs.Arg(0)
	filter := pgstore.FailureFilter{}
	if schema.ValidReceiptID(arg) {
		filter.ReceiptIDs = []string{arg}
	}
	fs, err := pgstore.ListFailures(ctx, pool, filter)
	if err != nil {
		return err
	}
	var out []map[string]any
	for i := range fs {
		name := fmt.Sprintf("%s/%d/%d", fs[i].Topic, fs[i].Partition, fs[i].Offset)
		if filter.ReceiptIDs == nil && name != arg {
			continue
		}
		v := failureView(&fs[i])
		hs := map[string]string{}
		for _, h := range fs[i].Headers {
			hs[h.Key] = string(h.Value)
		}
		v["headers"], v["key"], v["value"] = hs, string(fs[i].Key), json.RawMessage(validJSON(fs[i].Value))
		out = append(out, v)
	}
	if len(out) == 0 {
		return fmt.Errorf("no failed record %s", arg)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func validJSON(b []byte) []byte {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

func runDLQRedrive(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dlq redrive", "Writes dead letters back into processing: to the main topic (a fresh start through\nevery retry tier) or to the first retry tier (one more try, then parked again).\nPreview with --dry-run first. Records who did it in the redrives table.")
	var (
		lo             logOpts
		db             dbOpts
		ko             kafkaOpts
		fo             filterOpts
		target, by     string
		rate           float64
		dryRun, really bool
	)
	lo.register(f)
	db.register(f)
	ko.register(f, true)
	fo.register(f, false)
	f.String(&target, "to", "TURNIN_REDRIVE_TO", dlq.TargetMain, "main or retry")
	f.Float64(&rate, "rate", "TURNIN_REDRIVE_RATE", 100, "records per second at most (0: uncapped)")
	f.Bool(&dryRun, "dry-run", "TURNIN_REDRIVE_DRY_RUN", false, "only list what would move")
	f.Bool(&really, "yes", "TURNIN_REDRIVE_YES", false, "confirm: without it, redrive only previews")
	f.String(&by, "by", "TURNIN_REDRIVE_BY", "", "who asks (default: the OS user)")
	if err := f.Parse(args); err != nil {
		return err
	}
	filter, err := fo.filter()
	if err != nil {
		return err
	}
	if by == "" {
		if u, err := user.Current(); err == nil {
			by = u.Username
		}
	}
	b, err := connect(ctx, &lo, &db, &ko)
	if err != nil {
		return err
	}
	defer b.close()
	cfg := dlq.RedriveConfig{Filter: filter, Target: target, Topic: b.kcfg.Topic, Rate: rate, By: by,
		DryRun: dryRun || !really, Progress: func(done, total int) {
			if done%100 == 0 || done == total {
				b.log.Info("redrive progress", "moved", done, "of", total)
			}
		}}
	res, err := dlq.Redrive(ctx, cfg, b.producer, b.pool)
	if res != nil && cfg.DryRun {
		printFailures(stdout, res.Selected)
		fmt.Fprintf(stdout, "dry run: %d dead letter(s) would move to %s. Add --yes to redrive them.\n", len(res.Selected), target)
		return err
	}
	if res != nil {
		fmt.Fprintf(stdout, "redrive %d by %s: moved %d of %d to %s\n", res.ID, by, res.Moved, len(res.Selected), target)
	}
	return err
}

func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("audit", "Reads a window of the submissions topic and proves every accepted receipt is\nprocessed, retrying, dead-lettered or still queued. Names any that is none, and\nexits 1 then.")
	var (
		lo           logOpts
		db           dbOpts
		ko           kafkaOpts
		group        string
		since, until string
	)
	lo.register(f)
	db.register(f)
	ko.register(f, true)
	f.String(&group, "group", "TURNIN_CONSUMER_GROUP", "turnin-consumer", "the main consumers' group")
	f.String(&since, "since", "TURNIN_AUDIT_SINCE", "24h", "window start (RFC 3339, or a duration ago)")
	f.String(&until, "until", "TURNIN_AUDIT_UNTIL", "", "window end (RFC 3339, or a duration ago; default now)")
	if err := f.Parse(args); err != nil {
		return err
	}
	s, err := parseWhen(since)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	u, err := parseWhen(until)
	if err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	if u == nil {
		now := time.Now().Add(time.Second)
		u = &now
	}
	b, err := connect(ctx, &lo, &db, &ko)
	if err != nil {
		return err
	}
	defer b.close()
	rep, err := dlq.Audit(ctx, dlq.AuditConfig{Kafka: b.kcfg, Group: group, Since: *s, Until: *u,
		Progress: func(read, total int64) { b.log.Info("audit progress", "read", read, "of", total) }}, b.pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit %s .. %s of %s\n  records %d, receipts %d\n  processed %d, retrying %d, dead-lettered %d, queued %d (undecodable records: %d)\n",
		s.UTC().Format(time.RFC3339), u.UTC().Format(time.RFC3339), b.kcfg.Topic, rep.Records, rep.Receipts,
		rep.Processed, rep.Retrying, rep.DeadLettered, rep.Queued, rep.Undecodable)
	if len(rep.Gone) == 0 {
		fmt.Fprintln(stdout, "  gone 0: every accepted receipt is accounted for")
		return nil
	}
	fmt.Fprintf(stdout, "  GONE %d:\n", len(rep.Gone))
	for _, g := range rep.Gone {
		fmt.Fprintf(stdout, "    %s/%d/%d %s %s\n", g.Topic, g.Partition, g.Offset, g.TenantID, g.ReceiptID)
	}
	return errFailed
}

func runReplay(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("replay", "Re-reads a topic from a time (or offsets): moves one stopped consumer group back,\nor copies the records to another topic at a capped rate. Replayed records change\nnothing already processed (every write is idempotent).")
	var (
		lo                    logOpts
		ko                    kafkaOpts
		since, offsets, group string
		toTopic, from         string
		rate                  float64
		dryRun                bool
	)
	lo.register(f)
	ko.register(f, true)
	f.String(&from, "from-topic", "TURNIN_REPLAY_FROM_TOPIC", "", "topic to re-read (default: the submissions topic)")
	f.String(&since, "since", "TURNIN_REPLAY_SINCE", "", "re-read from this time (RFC 3339, or a duration ago)")
	f.String(&offsets, "offsets", "TURNIN_REPLAY_OFFSETS", "", "or from these offsets: partition:offset,…")
	f.String(&group, "group", "TURNIN_REPLAY_GROUP", "", "move this consumer group back (stop its consumers first)")
	f.String(&toTopic, "to-topic", "TURNIN_REPLAY_TO_TOPIC", "", "or copy the records to this topic")
	f.Float64(&rate, "rate", "TURNIN_REPLAY_RATE", 1000, "copied records per second at most (0: uncapped)")
	f.Bool(&dryRun, "dry-run", "TURNIN_REPLAY_DRY_RUN", false, "say what would be replayed; change nothing")
	if err := f.Parse(args); err != nil {
		return err
	}
	log, err := lo.logger()
	if err != nil {
		return err
	}
	cfg := dlq.ReplayConfig{Kafka: ko.config(nil, log), Topic: from, Group: group, ToTopic: toTopic, Rate: rate, DryRun: dryRun,
		Progress: func(done, total int64) { log.Info("replay progress", "copied", done, "of", total) }}
	switch {
	case offsets != "":
		cfg.Offsets = map[int32]int64{}
		for _, po := range splitList(offsets) {
			var p int32
			var o int64
			if _, err := fmt.Sscanf(po, "%d:%d", &p, &o); err != nil {
				return fmt.Errorf("--offsets: %q is not partition:offset", po)
			}
			cfg.Offsets[p] = o
		}
	case since != "":
		t, err := parseWhen(since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		cfg.Since = *t
	default:
		return errors.New("give --since or --offsets")
	}
	res, err := dlq.Replay(ctx, cfg)
	if err != nil {
		return err
	}
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	target := "group " + group + " moved back"
	if toTopic != "" {
		target = fmt.Sprintf("%d copied to %s", res.Copied, toTopic)
	}
	fmt.Fprintf(stdout, "%s %d record(s) over %d partition(s); %s\n", verb, res.Records, len(res.From), target)
	return nil
}
