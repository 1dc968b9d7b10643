// Package redrive writes dead letters back into processing. It is shared
// by the dlq command line (`turnin dlq redrive`) and the API's dashboard,
// so the two cannot drift: same selection, same headers, same audit row.
package redrive

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// HeaderRedriveID marks a record written by a redrive.
const HeaderRedriveID = "turnin-redrive-id"

// Redrive targets.
const (
	// TargetMain puts the record back on the main topic as it was first
	// written: the failure headers are dropped, so it gets every retry
	// tier again if it fails again.
	TargetMain = "main"
	// TargetRetry puts it on the first retry tier with its failure headers
	// and attempt count, so a record that fails again goes straight back to
	// the dead-letter topic instead of looping through the tiers.
	TargetRetry = "retry"
)

// Config is one redrive.
type Config struct {
	// Filter selects the dead letters; only dead-lettered records never
	// redriven are ever taken.
	Filter pgstore.FailureFilter
	// Target is TargetMain (the default) or TargetRetry.
	Target string
	// Topic is the main topic.
	Topic string
	// Rate caps records written per second; 0 means uncapped.
	Rate float64
	// DryRun previews: it lists what would move and writes nothing.
	DryRun bool
	// By names who asked, for the audit trail. Required unless DryRun.
	By string
	// Progress, when set, is called after each record.
	Progress func(done, total int)
}

// Result says what a redrive did (or, dry, would do).
type Result struct {
	ID       int64 // the redrives row; 0 for a dry run
	Selected []pgstore.Failure
	Moved    int
}

// Run writes the selected dead letters back into processing, each
// acknowledged (acks=all) before it is marked redriven, at most Rate a
// second, recording who did it in the redrives table.
func Run(ctx context.Context, cfg Config, producer *kgo.Client, db *pgxpool.Pool) (*Result, error) {
	if cfg.Target == "" {
		cfg.Target = TargetMain
	}
	if cfg.Target != TargetMain && cfg.Target != TargetRetry {
		return nil, fmt.Errorf("redrive: target %q is neither %s nor %s", cfg.Target, TargetMain, TargetRetry)
	}
	if !cfg.DryRun && strings.TrimSpace(cfg.By) == "" {
		return nil, errors.New("redrive: a redrive needs the name of who asks for it")
	}
	f := cfg.Filter
	f.State, f.NotRedriven = pgstore.FailureDeadLettered, true
	sel, err := pgstore.ListFailures(ctx, db, f)
	if err != nil {
		return nil, err
	}
	res := &Result{Selected: sel}
	if cfg.DryRun || len(sel) == 0 {
		return res, nil
	}
	if res.ID, err = pgstore.StartRedrive(ctx, db, cfg.By, f, cfg.Target, len(sel)); err != nil {
		return nil, err
	}
	var gap time.Duration
	if cfg.Rate > 0 {
		gap = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
	for i := range sel {
		if gap > 0 {
			if d := time.Until(next); d > 0 && !backoff.Sleep(ctx, d) {
				return res, ctx.Err()
			}
			next = next.Add(gap)
		}
		rec := redriveRecord(&sel[i], cfg, res.ID)
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return res, fmt.Errorf("redrive: redrive %s/%d/%d: %w (moved %d of %d; run it again to continue)",
				sel[i].Topic, sel[i].Partition, sel[i].Offset, err, res.Moved, len(sel))
		}
		if err := pgstore.MarkRedriven(ctx, db, res.ID, &sel[i]); err != nil {
			return res, err
		}
		res.Moved++
		if cfg.Progress != nil {
			cfg.Progress(res.Moved, len(sel))
		}
	}
	return res, pgstore.FinishRedrive(ctx, db, res.ID)
}

func redriveRecord(f *pgstore.Failure, cfg Config, id int64) *kgo.Record {
	rec := &kgo.Record{Key: f.Key, Value: f.Value, Timestamp: time.Now()}
	strip := cfg.Target == TargetMain
	for _, h := range f.Headers {
		if h.Key == HeaderRedriveID || (strip && strings.HasPrefix(h.Key, "turnin-") && isFailureHeader(h.Key)) {
			continue
		}
		rec.Headers = append(rec.Headers, kgoHeader(h))
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderRedriveID, Value: []byte(strconv.FormatInt(id, 10))})
	if cfg.Target == TargetMain {
		rec.Topic = cfg.Topic
	} else {
		rec.Topic = schema.RetryTopic(cfg.Topic, 1)
	}
	return rec
}

func kgoHeader(h pgstore.Header) kgo.RecordHeader {
	return kgo.RecordHeader{Key: h.Key, Value: h.Value}
}

func isFailureHeader(k string) bool {
	switch k {
	case schema.HeaderErrorClass, schema.HeaderErrorMessage, schema.HeaderAttempt, schema.HeaderFirstFailureAt,
		schema.HeaderLastFailureAt, schema.HeaderOriginTopic, schema.HeaderOriginPart, schema.HeaderOriginOffset,
		schema.HeaderOriginGroup:
		return true
	}
	return false
}
