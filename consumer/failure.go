package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/schema"
)

// Failure is an item's classified failure.
type Failure struct {
	Class schema.ErrorClass
	// Permanent failures go straight to the dead-letter topic; others may
	// be retried later.
	Permanent bool
	Err       error
}

func (f *Failure) Error() string { return string(f.Class) + ": " + f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Permanent returns a failure that no retry can fix.
func Permanent(class schema.ErrorClass, err error) error {
	return &Failure{Class: class, Permanent: true, Err: err}
}

// Retryable returns a failure a later attempt may pass.
func Retryable(class schema.ErrorClass, err error) error {
	return &Failure{Class: class, Err: err}
}

// FailureOf classifies an item's error; an unclassified one is retryable.
func FailureOf(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Class: schema.ClassUnclassified, Err: err}
}

// FailureRouter takes the items a batch failed and writes them, durably,
// somewhere they are not lost: a retry tier or the dead-letter topic. It
// returns only after every write was acknowledged (acks=all); an error
// means some were not, and the batch is not committed.
type FailureRouter interface {
	Route(ctx context.Context, failed []*Item) error
}

// FailureRecord builds the copy of rec written to a retry tier or the
// dead-letter topic: the original key, value and headers byte for byte,
// then turnin's failure headers. The attempt header counts failures so far;
// the first failure time and the origin (where the record was first read)
// are kept from earlier failures.
func FailureRecord(rec *kgo.Record, topic, group string, f *Failure, at time.Time) *kgo.Record {
	msg := f.Err.Error()
	if len(msg) > schema.MaxErrorMessageHeader {
		msg = msg[:schema.MaxErrorMessageHeader]
	}
	attempt := Attempt(rec) + 1
	first := at.UTC().Format(time.RFC3339Nano)
	origin := map[string]string{
		schema.HeaderOriginTopic:  rec.Topic,
		schema.HeaderOriginPart:   strconv.Itoa(int(rec.Partition)),
		schema.HeaderOriginOffset: strconv.FormatInt(rec.Offset, 10),
		schema.HeaderOriginGroup:  group,
	}
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+9)
	for _, h := range rec.Headers {
		switch h.Key {
		case schema.HeaderFirstFailureAt:
			first = string(h.Value)
			continue
		case schema.HeaderOriginTopic, schema.HeaderOriginPart, schema.HeaderOriginOffset, schema.HeaderOriginGroup:
			origin[h.Key] = string(h.Value) // the first origin wins
			continue
		case schema.HeaderErrorClass, schema.HeaderErrorMessage, schema.HeaderLastFailureAt, schema.HeaderAttempt:
			continue // replaced below; the rest are the original's, kept as they were
		}
		headers = append(headers, h)
	}
	headers = append(headers,
		kgo.RecordHeader{Key: schema.HeaderErrorClass, Value: []byte(f.Class)},
		kgo.RecordHeader{Key: schema.HeaderErrorMessage, Value: []byte(msg)},
		kgo.RecordHeader{Key: schema.HeaderAttempt, Value: []byte(strconv.Itoa(attempt))},
		kgo.RecordHeader{Key: schema.HeaderFirstFailureAt, Value: []byte(first)},
		kgo.RecordHeader{Key: schema.HeaderLastFailureAt, Value: []byte(at.UTC().Format(time.RFC3339Nano))},
	)
	for _, k := range []string{schema.HeaderOriginTopic, schema.HeaderOriginPart, schema.HeaderOriginOffset, schema.HeaderOriginGroup} {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(origin[k])})
	}
	// The timestamp is the failure time: a retry tier's delay gate counts
	// from it.
	return &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: headers, Timestamp: at}
}

// Attempt returns how many times rec has failed so far (its attempt header,
// 0 for a record from the main topic).
func Attempt(rec *kgo.Record) int {
	for _, h := range rec.Headers {
		if h.Key == schema.HeaderAttempt {
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}

// TieredRouter is the FailureRouter of every consumer. It sends a retryable failure to the next retry tier — after the
// first failure tier 1, after the second tier 2 — and a permanent one, or
// one that has failed in every tier, to the dead-letter topic. Every write
// is acknowledged (acks=all) before Route returns.
type TieredRouter struct {
	Producer *kgo.Client // built with platform/kafka's producer options
	Topic    string      // the main topic; tier and dead-letter topics are named after it
	Tiers    int         // the number of retry tiers; with 0 every failure is dead-lettered
	Group    string      // the consumer group, recorded as the origin
	// Permanent overrides, per error class, whether a failure is permanent
	// (true: straight to the dead-letter topic) or retryable (false).
	// Classes not listed keep the classification of the step that failed.
	Permanent map[schema.ErrorClass]bool
	Now       func() time.Time
}

// Route implements FailureRouter.
func (r *TieredRouter) Route(ctx context.Context, failed []*Item) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	recs := make([]*kgo.Record, len(failed))
	for i, it := range failed {
		recs[i] = FailureRecord(it.Record, r.Destination(it), r.Group, FailureOf(it.Err), now())
	}
	return r.Producer.ProduceSync(ctx, recs...).FirstErr()
}

// Destination names the topic a failed item goes to.
func (r *TieredRouter) Destination(it *Item) string {
	f := FailureOf(it.Err)
	permanent := f.Permanent
	if p, ok := r.Permanent[f.Class]; ok {
		permanent = p
	}
	next := Attempt(it.Record) + 1
	if permanent || next > r.Tiers {
		return schema.DeadLetterTopic(r.Topic)
	}
	return schema.RetryTopic(r.Topic, next)
}

var errNoRouter = fmt.Errorf("consumer: items failed and no FailureRouter is configured")
