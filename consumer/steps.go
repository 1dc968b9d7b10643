package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// Item is one record moving through the chain.
type Item struct {
	Record *kgo.Record
	// Event is the decoded record; nil when it did not decode (then Err is set).
	Event *schema.Submission
	// Err is set by the step that failed the item; later steps skip it.
	Err error
	// Outcome is what the record step did, for items it reached.
	Outcome pgstore.Outcome
}

// Step is one stage of processing. Process sees only items not failed so
// far. It fails an item by setting its Err to a Permanent or Retryable
// error; it returns an error only when the whole batch could not be
// processed for reasons outside the data (a database or store outage) —
// then nothing is committed and the batch is tried again after a backoff.
// A step must be idempotent: a batch can be processed more than once.
type Step interface {
	Name() string
	Process(ctx context.Context, items []*Item) error
}

// parallel runs fn over xs with at most n at once and returns the first
// error; it waits for every started call.
func parallel[T any](ctx context.Context, xs []T, n int, fn func(context.Context, T) error) error {
	if n < 1 {
		n = 1
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, n)
	)
	for _, x := range xs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, x); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// VerifyStep streams each stored object and compares its SHA-256 with the
// declared one. A mismatch or a missing object is permanent; a store that
// cannot be reached fails the batch (transient).
type VerifyStep struct {
	Store *objstore.Store
	// Fraction of submissions verified, 0 to 1. The choice is a function
	// of the receipt id, so a redelivered record is treated the same way.
	Fraction float64
	// Concurrency bounds objects streamed at once.
	Concurrency int
}

// Name implements Step.
func (*VerifyStep) Name() string { return "verify" }

// Process implements Step.
func (v *VerifyStep) Process(ctx context.Context, items []*Item) error {
	return parallel(ctx, items, v.Concurrency, func(ctx context.Context, it *Item) error {
		if !sampled(it.Event.ReceiptID, v.Fraction) {
			return nil
		}
		r, err := v.Store.Open(ctx, it.Event.ObjectKey)
		if errors.Is(err, objstore.ErrNotFound) {
			it.Err = Permanent(schema.ClassObjectMissing, fmt.Errorf("object %s is not in storage", it.Event.ObjectKey))
			return nil
		}
		if err != nil {
			return err
		}
		defer r.Close()
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			return fmt.Errorf("verify: read %s: %w", it.Event.ObjectKey, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != it.Event.SHA256 || n != it.Event.Size {
			it.Err = Permanent(schema.ClassChecksumMismatch,
				fmt.Errorf("stored object has sha256 %s and %d bytes, declared %s and %d", got, n, it.Event.SHA256, it.Event.Size))
		}
		return nil
	})
}

func sampled(receiptID string, fraction float64) bool {
	switch {
	case fraction >= 1:
		return true
	case fraction <= 0:
		return false
	}
	h := sha256.Sum256([]byte(receiptID))
	return float64(binary.BigEndian.Uint64(h[:8]))/float64(^uint64(0)) < fraction
}

// WebhookStep hands each submission to an external service (a grader, a
// plagiarism checker) by POSTing the event as JSON, with the receipt id as
// the Idempotency-Key. 2xx passes; 408, 429, 5xx, timeouts and network
// errors are retryable; any other 4xx is permanent.
type WebhookStep struct {
	URL         string
	Timeout     time.Duration
	Concurrency int
	Client      *http.Client
}

// Name implements Step.
func (*WebhookStep) Name() string { return "webhook" }

// Process implements Step.
func (w *WebhookStep) Process(ctx context.Context, items []*Item) error {
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	return parallel(ctx, items, w.Concurrency, func(ctx context.Context, it *Item) error {
		ctx, cancel := context.WithTimeout(ctx, w.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(it.Record.Value))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", schema.EventContentType)
		req.Header.Set("Idempotency-Key", it.Event.ReceiptID)
		resp, err := client.Do(req)
		if err != nil {
			it.Err = Retryable(schema.ClassWebhookFailed, fmt.Errorf("webhook: %w", err))
			return nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
		case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
			it.Err = Retryable(schema.ClassWebhookFailed, fmt.Errorf("webhook answered %d", resp.StatusCode))
		default:
			it.Err = Permanent(schema.ClassWebhookRejected, fmt.Errorf("webhook refused the submission with %d", resp.StatusCode))
		}
		return nil
	})
}

// recordStep writes the batch to PostgreSQL: partitions are grouped into at
// most maxTx transactions run at once, a partition's records never split
// between two, so one student's attempts are numbered in log order.
type recordStep struct {
	db    *pgxpool.Pool
	maxTx int
	// beforeTx, when set (tests), runs before each transaction.
	beforeTx func() error
}

func (*recordStep) Name() string { return "record" }

func (s *recordStep) Process(ctx context.Context, items []*Item) error {
	groups := make([][]*Item, s.maxTx)
	for _, it := range items {
		g := int(it.Record.Partition) % s.maxTx
		groups[g] = append(groups[g], it)
	}
	return parallel(ctx, groups, s.maxTx, func(ctx context.Context, g []*Item) error {
		if len(g) == 0 {
			return nil
		}
		return s.write(ctx, g)
	})
}

// isolate finds the records PostgreSQL refuses as data (err was the
// refusal of the whole group): it writes each half of items in its own
// transaction, earlier half first so a partition's records still commit in
// log order, and splits again where the refusal repeats. A record refused
// on its own is marked permanently failed, so it is dead-lettered with the
// server's message and its partition moves on; its neighbours are written.
// A poison record among n costs about 2·log2(n) extra transactions.
func (s *recordStep) isolate(ctx context.Context, items []*Item, err error) error {
	if len(items) == 1 {
		items[0].Err = Permanent(schema.ClassDatabaseRejected, err)
		return nil
	}
	half := len(items) / 2
	if err := s.write(ctx, items[:half]); err != nil {
		return err
	}
	return s.write(ctx, items[half:])
}

func (s *recordStep) write(ctx context.Context, items []*Item) error {
	if s.beforeTx != nil {
		if err := s.beforeTx(); err != nil {
			return err
		}
	}
	in := make([]pgstore.Incoming, len(items))
	for i, it := range items {
		in[i] = pgstore.Incoming{Event: it.Event, Topic: it.Record.Topic, Partition: it.Record.Partition, Offset: it.Record.Offset}
	}
	res, err := pgstore.RecordBatch(ctx, s.db, in)
	if pgstore.RejectsData(err) {
		return s.isolate(ctx, items, err)
	}
	if err != nil {
		return err
	}
	for i, it := range items {
		it.Outcome = res.Outcomes[i]
		switch res.Outcomes[i] {
		case pgstore.Conflict:
			it.Err = Permanent(schema.ClassKeyConflict, fmt.Errorf("idempotency key %q was already used for another payload", it.Event.IdempotencyKey))
		case pgstore.UnknownAssignment:
			it.Err = Permanent(schema.ClassUnknownAssignment, fmt.Errorf("tenant %s has no assignment %s", it.Event.TenantID, it.Event.AssignmentID))
		}
	}
	return nil
}
