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

// DeadLetterRouter parks every failed item in the dead-letter topic: the
// original key, value and headers byte for byte, plus headers naming the
// error class and message, the attempt, failure times and the origin.
type DeadLetterRouter struct {
	Producer *kgo.Client // built with platform/kafka's producer options
	Topic    string      // the dead-letter topic
	Group    string      // the consumer group, recorded as the origin
	Now      func() time.Time
}

// Route implements FailureRouter.
func (d *DeadLetterRouter) Route(ctx context.Context, failed []*Item) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	recs := make([]*kgo.Record, len(failed))
	for i, it := range failed {
		recs[i] = DeadLetterRecord(it.Record, d.Topic, d.Group, FailureOf(it.Err), now())
	}
	// ProduceSync waits for every acknowledgement; errors are joined, so a
	// single failed write fails the whole route (and the batch's commit).
	return d.Producer.ProduceSync(ctx, recs...).FirstErr()
}

// DeadLetterRecord builds the dead-letter copy of rec.
func DeadLetterRecord(rec *kgo.Record, topic, group string, f *Failure, at time.Time) *kgo.Record {
	msg := f.Err.Error()
	if len(msg) > schema.MaxErrorMessageHeader {
		msg = msg[:schema.MaxErrorMessageHeader]
	}
	attempt, first := 1, at.UTC().Format(time.RFC3339Nano)
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+9)
	for _, h := range rec.Headers {
		switch h.Key {
		case schema.HeaderAttempt:
			if n, err := strconv.Atoi(string(h.Value)); err == nil {
				attempt = n + 1
			}
			continue
		case schema.HeaderFirstFailureAt:
			first = string(h.Value)
			continue
		case schema.HeaderErrorClass, schema.HeaderErrorMessage, schema.HeaderLastFailureAt,
			schema.HeaderOriginTopic, schema.HeaderOriginPart, schema.HeaderOriginOffset, schema.HeaderOriginGroup:
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
		kgo.RecordHeader{Key: schema.HeaderOriginTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: schema.HeaderOriginPart, Value: []byte(strconv.Itoa(int(rec.Partition)))},
		kgo.RecordHeader{Key: schema.HeaderOriginOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
		kgo.RecordHeader{Key: schema.HeaderOriginGroup, Value: []byte(group)},
	)
	return &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: headers, Timestamp: rec.Timestamp}
}

var errNoRouter = fmt.Errorf("consumer: items failed and no FailureRouter is configured")
