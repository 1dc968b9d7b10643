package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// AuditConfig selects a window of the main topic to account for.
type AuditConfig struct {
	Kafka kafka.Config // Topic is the main topic
	// Group is the main consumers' group, whose committed offsets tell
	// queued records from consumed ones.
	Group string
	// Since and Until bound the window by record time (accept time).
	Since, Until time.Time
	// Progress, when set, is called as records are read.
	Progress func(read, total int64)
}

// AuditReport accounts for every record of a window.
type AuditReport struct {
	Records      int64 // records read from the main topic
	Receipts     int   // distinct receipts among them
	Processed    int
	Retrying     int
	DeadLettered int
	Queued       int
	// Undecodable counts records that were not events; each must be in the
	// dead-letter index (or still queued).
	Undecodable int
	// Gone names every receipt or record that is in none of the states. A
	// correct pipeline never has one.
	Gone []Gone
}

// Gone is an accepted record the audit could not account for.
type Gone struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	TenantID  string `json:"tenant_id,omitempty"`
	ReceiptID string `json:"receipt_id,omitempty"`
}

// Audit reads the window of the main topic and proves that every accepted
// receipt in it is processed, retrying, dead-lettered, or still queued
// (not yet reached by the consumers). Anything else is listed in Gone.
func Audit(ctx context.Context, cfg AuditConfig, db *pgxpool.Pool) (*AuditReport, error) {
	cfg.Kafka = cfg.Kafka.WithDefaults()
	cl, err := kgo.NewClient(cfg.Kafka.BaseOpts()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := cfg.Kafka.Topic
	starts, err := kafka.OffsetsAfter(ctx, adm, topic, cfg.Since)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	ends, err := kafka.OffsetsAfter(ctx, adm, topic, cfg.Until)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	committed, err := kafka.FetchCommitted(ctx, adm, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("audit: committed offsets of %s: %w", cfg.Group, err)
	}
	from := map[int32]kgo.Offset{}
	to := map[int32]int64{}
	var total int64
	for p, start := range starts {
		if end := ends[p]; end > start {
			from[p] = kgo.NewOffset().At(start)
			to[p] = end
			total += end - start
		}
	}
	consumedTo := func(p int32) int64 {
		if o, ok := committed.Lookup(topic, p); ok && o.Err == nil {
			return o.At
		}
		return 0
	}

	rep := &AuditReport{}
	type seen struct {
		topic     string
		partition int32
		offset    int64
		queued    bool // some record of the receipt is beyond the committed offset
	}
	receipts := map[[2]string]*seen{}
	if len(from) > 0 {
		rd, err := kgo.NewClient(append(cfg.Kafka.BaseOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		left := len(to)
		for left > 0 {
			fs := rd.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				return nil, fmt.Errorf("audit: read: %w", ferr)
			}
			for _, r := range fs.Records() {
				end, ok := to[r.Partition]
				if !ok || r.Offset >= end {
					continue
				}
				rep.Records++
				queued := r.Offset >= consumedTo(r.Partition)
				ev, err := schema.DecodeSubmission(r.Value)
				if err != nil {
					rep.Undecodable++
					parked, err := pgstore.FailureAt(ctx, db, r.Topic, r.Partition, r.Offset)
					if err != nil {
						return nil, err
					}
					switch {
					case parked:
						rep.DeadLettered++
					case queued:
						rep.Queued++
					default:
						rep.Gone = append(rep.Gone, Gone{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
					}
				} else {
					k := [2]string{ev.TenantID, ev.ReceiptID}
					if s := receipts[k]; s == nil {
						receipts[k] = &seen{r.Topic, r.Partition, r.Offset, queued}
					} else if queued {
						s.queued = true
					}
				}
				if r.Offset == end-1 {
					left--
				}
				if cfg.Progress != nil && rep.Records%10000 == 0 {
					cfg.Progress(rep.Records, total)
				}
			}
		}
	}
	rep.Receipts = len(receipts)
	var ts, rs []string
	for k := range receipts {
		ts, rs = append(ts, k[0]), append(rs, k[1])
	}
	states, err := pgstore.ReceiptStates(ctx, db, ts, rs)
	if err != nil {
		return nil, err
	}
	for k, s := range receipts {
		st := states[k]
		switch {
		case st.Processed:
			rep.Processed++
		case st.Failure == pgstore.FailureRetrying:
			rep.Retrying++
		case st.Failure == pgstore.FailureDeadLettered:
			rep.DeadLettered++
		case s.queued:
			rep.Queued++
		default:
			rep.Gone = append(rep.Gone, Gone{Topic: s.topic, Partition: s.partition, Offset: s.offset, TenantID: k[0], ReceiptID: k[1]})
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(rep.Records, total)
	}
	return rep, nil
}
