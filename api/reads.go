package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// The dashboard's read endpoints. Each is scoped to the caller's tenant by
// its query, never by filtering afterwards: another tenant's receipt id
// finds nothing, exactly like an id never issued.

// DefaultBacklogTTL is how long one backlog measurement is served before
// the next request measures again.
const DefaultBacklogTTL = 2 * time.Second

// DefaultCountsTTL is how long one assignment's counts are served to every
// dashboard polling it before the next request counts again.
const DefaultCountsTTL = time.Second

// ttlCache serves one loaded value per key for ttl, whatever the number of
// dashboards polling: a request for a key whose load is running waits for
// it rather than start its own, so the database sees at most one load per
// key per ttl. Failures are not kept. It runs only on dashboard reads: the
// accept path never waits for it.
type ttlCache[K comparable, V any] struct {
	ttl     time.Duration
	load    func(context.Context, K) (V, error)
	mu      sync.Mutex
	entries map[K]*ttlEntry[V]
}

type ttlEntry[V any] struct {
	mu  sync.Mutex // held while the value loads
	val V
	at  time.Time // when val was loaded; zero before the first success
}

func (c *ttlCache[K, V]) get(ctx context.Context, k K) (V, error) {
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		if c.entries == nil {
			c.entries = map[K]*ttlEntry[V]{}
		}
		c.prune()
		e = &ttlEntry[V]{}
		c.entries[k] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.at.IsZero() && time.Since(e.at) < c.ttl {
		return e.val, nil
	}
	v, err := c.load(ctx, k)
	if err != nil {
		var zero V
		return zero, err
	}
	e.val, e.at = v, time.Now()
	return v, nil
}

// forget drops k's value, so the next get loads it: after a write through
// this server that changes it.
func (c *ttlCache[K, V]) forget(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}

// clear drops every value.
func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// prune forgets the keys nobody asked for in a minute (c.mu is held), so
// assignments viewed once do not stay in memory.
func (c *ttlCache[K, V]) prune() {
	for k, e := range c.entries {
		if e.mu.TryLock() {
			stale := time.Since(e.at) > time.Minute
			e.mu.Unlock()
			if stale {
				delete(c.entries, k)
			}
		}
	}
}

// backlogCache measures the consumers' backlog at most once per TTL (see
// ttlCache) and logs a failing measurement once per outage, not once per
// poll.
type backlogCache struct {
	cache   ttlCache[struct{}, *kafka.Backlog]
	mu      sync.Mutex
	failing bool
}

func newBacklogCache(measure func(context.Context) (*kafka.Backlog, error), ttl time.Duration) *backlogCache {
	if measure == nil {
		return &backlogCache{}
	}
	return &backlogCache{cache: ttlCache[struct{}, *kafka.Backlog]{ttl: ttl,
		load: func(ctx context.Context, _ struct{}) (*kafka.Backlog, error) {
			mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			return measure(mctx)
		}}}
}

func (b *backlogCache) get(ctx context.Context) (*kafka.Backlog, error) {
	if b.cache.load == nil {
		return nil, nil
	}
	bl, err := b.cache.get(ctx, struct{}{})
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		if b.failing {
			return nil, errBacklogStillFailing
		}
		b.failing = true
		return nil, err
	}
	b.failing = false
	return bl, nil
}

// errBacklogStillFailing says the measurement failed again; the first
// failure was logged.
var errBacklogStillFailing = errors.New("backlog measurement still failing")

func backlogStatus(b *kafka.Backlog) *schema.BacklogStatus {
	if b == nil {
		return nil
	}
	out := &schema.BacklogStatus{Topic: b.Topic, Group: b.Group, Queued: b.Records,
		OldestWaitSeconds: b.Wait().Seconds(), MeasuredAt: b.MeasuredAt.UTC()}
	if !b.OldestAt.IsZero() {
		t := b.OldestAt.UTC()
		out.OldestAcceptedAt = &t
	}
	return out
}

// assignmentParam is the caller's assignment named in the path, or a 404:
// another tenant's assignment is not found, exactly like one never made.
func (s *Server) assignmentParam(c echo.Context) (*schema.Assignment, error) {
	a := s.snap.assignment(tenantOf(c), c.Param("assignment_id"))
	if a == nil {
		return nil, schema.NewError(schema.CodeNotFound, "no such assignment for this tenant")
	}
	return a, nil
}

// receiptParam is the receipt id named in the path, checked for form.
func receiptParam(c echo.Context) (string, error) {
	id := c.Param("receipt_id")
	if !schema.ValidReceiptID(id) {
		return "", schema.FieldError(schema.CodeInvalidField, "receipt_id", "not a receipt id (rcpt_ and 32 characters)")
	}
	return id, nil
}

// overview gathers an assignment's counts and the backlog.
func (s *Server) overview(ctx context.Context, tenant string, a *schema.Assignment) (*schema.AssignmentOverview, error) {
	counts, err := s.counts.get(ctx, pgstore.AssignmentKey{Tenant: tenant, Assignment: a.AssignmentID})
	if err != nil {
		return nil, &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not count submissions; retry", Err: err}
	}
	out := &schema.AssignmentOverview{AssignmentID: a.AssignmentID, CourseID: a.CourseID, DueAt: a.DueAt.UTC(),
		Counts: schema.SubmissionCounts{Processed: counts.Submissions, Students: counts.Students, Late: counts.Late,
			Retrying: counts.Retrying, DeadLettered: counts.DeadLettered}}
	bl, err := s.backlog.get(ctx)
	if err != nil && !errors.Is(err, errBacklogStillFailing) {
		// The counts are still worth showing; the page says the backlog is unknown.
		s.log.Warn("could not measure the backlog; the dashboard shows it as unknown until it can", "err", err)
	}
	out.Backlog = backlogStatus(bl)
	return out, nil
}

// handleOverview answers an assignment's counts by state and the backlog.
func (s *Server) handleOverview(c echo.Context) error {
	tenant := tenantOf(c)
	a, err := s.assignmentParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	out, err := s.overview(ctx, tenant, a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// timeline builds what happened to one receipt, oldest first: accepted,
// each failed attempt, each redrive, processed.
func (s *Server) timeline(ctx context.Context, tenant, id string) (*schema.Timeline, error) {
	rec, _, err := pgstore.GetSubmission(ctx, s.db, tenant, id)
	if err != nil && !errors.Is(err, schema.ErrNotFound) {
		return nil, &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not read the submission; retry", Err: err}
	}
	fs, err := pgstore.ListFailures(ctx, s.db, pgstore.FailureFilter{Tenant: tenant, ReceiptIDs: []string{id}})
	if err != nil {
		return nil, &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not read the submission's failures; retry", Err: err}
	}
	tl := &schema.Timeline{ReceiptID: id, State: schema.StateQueued, Events: []schema.TimelineEvent{}}
	var accepted *time.Time
	if rec != nil {
		accepted = &rec.AcceptedAt
		tl.AssignmentID, tl.StudentID = rec.AssignmentID, rec.StudentID
	}
	var redriveIDs []int64
	for i := range fs {
		f := &fs[i]
		tl.AssignmentID, tl.StudentID = f.AssignmentID, f.StudentID
		if accepted == nil {
			// The failure keeps the original event byte for byte.
			if ev, err := schema.DecodeSubmission(f.Value); err == nil {
				t := ev.AcceptedAt
				accepted = &t
			}
		}
		ev := schema.TimelineEvent{At: f.LastFailureAt.UTC(), Kind: f.State, Attempt: f.Attempt,
			Error: &schema.ProcessingError{Class: f.ErrorClass, Message: f.ErrorMsg}}
		if f.State == pgstore.FailureRetrying {
			ev.Detail = fmt.Sprintf("written to %s", f.Topic)
			if f.NextAttemptAt != nil {
				ev.Detail += ", next attempt at " + f.NextAttemptAt.UTC().Format(time.RFC3339)
			}
		} else {
			ev.Detail = fmt.Sprintf("parked on %s (partition %d, offset %d); staff were alerted", f.Topic, f.Partition, f.Offset)
		}
		tl.Events = append(tl.Events, ev)
		if f.RedriveID != nil {
			redriveIDs = append(redriveIDs, *f.RedriveID)
		}
	}
	if len(redriveIDs) > 0 {
		rds, err := pgstore.Redrives(ctx, s.db, redriveIDs)
		if err != nil {
			return nil, &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not read the redrives; retry", Err: err}
		}
		for _, r := range rds {
			tl.Events = append(tl.Events, schema.TimelineEvent{At: r.RequestedAt.UTC(), Kind: schema.EventRedriven, By: r.RequestedBy,
				Detail: fmt.Sprintf("redrive %d to the %s topic", r.ID, r.Target)})
		}
	}
	if accepted != nil {
		tl.Events = append(tl.Events, schema.TimelineEvent{At: accepted.UTC(), Kind: schema.EventAccepted, Detail: "acknowledged by the log; receipt signed"})
	}
	switch {
	case rec != nil:
		tl.State = schema.StateProcessed
		// Not Attempt: that counts processing attempts; this is the
		// student's n-th submission to the assignment.
		tl.Events = append(tl.Events, schema.TimelineEvent{At: rec.ProcessedAt.UTC(), Kind: schema.EventProcessed,
			Detail: fmt.Sprintf("stored as the student's submission #%d; %s", rec.Attempt, lateDetail(rec.Late, rec.SecondsLate))})
	case len(fs) > 0 && fs[len(fs)-1].RedriveID == nil:
		tl.State = fs[len(fs)-1].State
	}
	sort.SliceStable(tl.Events, func(i, j int) bool { return tl.Events[i].At.Before(tl.Events[j].At) })
	return tl, nil
}

func lateDetail(late bool, secs int64) string {
	if !late {
		return "on time"
	}
	return fmt.Sprintf("late by %s", (time.Duration(secs) * time.Second).String())
}

// handleTimeline answers a receipt's timeline.
func (s *Server) handleTimeline(c echo.Context) error {
	id, err := receiptParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	tl, err := s.timeline(ctx, tenantOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tl)
}

// MaxDeadLetters bounds the dead-letter list.
const MaxDeadLetters = 500

func (s *Server) deadLetters(ctx context.Context, tenant, assignment string) (*schema.DeadLetterList, error) {
	fs, err := pgstore.ListFailures(ctx, s.db, pgstore.FailureFilter{State: pgstore.FailureDeadLettered, Tenant: tenant,
		Assignment: assignment, NotRedriven: true, Limit: MaxDeadLetters})
	if err != nil {
		return nil, &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "could not list dead letters; retry", Err: err}
	}
	out := &schema.DeadLetterList{Items: []schema.DeadLetter{}}
	for _, f := range fs {
		out.Items = append(out.Items, schema.DeadLetter{ReceiptID: f.ReceiptID, StudentID: f.StudentID, Attempt: f.Attempt,
			Error: schema.ProcessingError{Class: f.ErrorClass, Message: f.ErrorMsg}, LastFailureAt: f.LastFailureAt.UTC()})
	}
	return out, nil
}

// handleDeadLetters lists an assignment's dead letters not redriven yet.
func (s *Server) handleDeadLetters(c echo.Context) error {
	tenant := tenantOf(c)
	a, err := s.assignmentParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	out, err := s.deadLetters(ctx, tenant, a.AssignmentID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// verifyReceipt checks a receipt's signature with this server's key. A
// receipt of another tenant is not valid here, whatever its signature.
func (s *Server) verifyReceipt(tenant string, r *schema.Receipt) *schema.ReceiptVerification {
	out := &schema.ReceiptVerification{ReceiptID: r.ReceiptID, AcceptedAt: r.AcceptedAt.UTC(), KeyID: r.KeyID}
	switch {
	case r.TenantID != tenant:
		out.Reason = "this receipt was not issued to your tenant"
	case r.KeyID != s.cfg.ReceiptKeyID:
		out.Reason = fmt.Sprintf("signed with key %q; this server signs with %q", r.KeyID, s.cfg.ReceiptKeyID)
	case r.Verify(s.cfg.ReceiptKey.Public().(ed25519.PublicKey)) != nil:
		out.Reason = "the signature does not match: the receipt was changed after it was signed, or not signed by turnin"
	case r.ReceiptID != "" && !schema.ValidReceiptID(r.ReceiptID):
		out.Reason = "receipt_id is not a receipt id"
	default:
		out.Valid = true
	}
	return out
}

// handleVerifyReceipt checks a receipt a student kept.
func (s *Server) handleVerifyReceipt(c echo.Context) error {
	var r schema.Receipt
	if err := decodeJSON(c.Request(), s.cfg.MaxBodyBytes, s.cfg.MaxJSONDepth, &r); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.verifyReceipt(tenantOf(c), &r))
}
