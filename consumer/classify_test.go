package consumer

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/schema"
)

// TestRouteByClass: each class goes where its classification says, an
// override changes that, and attempts past the last tier are dead-lettered.
func TestRouteByClass(t *testing.T) {
	r := &TieredRouter{Topic: "t", Tiers: 2}
	dlq, r1, r2 := schema.DeadLetterTopic("t"), schema.RetryTopic("t", 1), schema.RetryTopic("t", 2)
	fresh := &kgo.Record{Topic: "t"}
	onTier1 := &kgo.Record{Topic: r1, Headers: []kgo.RecordHeader{{Key: schema.HeaderAttempt, Value: []byte("1")}}}
	onTier2 := &kgo.Record{Topic: r2, Headers: []kgo.RecordHeader{{Key: schema.HeaderAttempt, Value: []byte("2")}}}
	boom := errors.New("boom")
	for _, c := range []struct {
		err  error
		rec  *kgo.Record
		want string
	}{
		{Permanent(schema.ClassInvalidPayload, boom), fresh, dlq},
		{Permanent(schema.ClassUnknownAssignment, boom), fresh, dlq},
		{Permanent(schema.ClassChecksumMismatch, boom), fresh, dlq},
		{Permanent(schema.ClassObjectMissing, boom), fresh, dlq},
		{Permanent(schema.ClassKeyConflict, boom), fresh, dlq},
		{Permanent(schema.ClassWebhookRejected, boom), fresh, dlq},
		{Retryable(schema.ClassWebhookFailed, boom), fresh, r1},
		{Retryable(schema.ClassStorageError, boom), fresh, r1},
		{boom, fresh, r1}, // unclassified: retryable
		{Retryable(schema.ClassWebhookFailed, boom), onTier1, r2},
		{Retryable(schema.ClassWebhookFailed, boom), onTier2, dlq},
	} {
		if got := r.Destination(&Item{Record: c.rec, Err: c.err}); got != c.want {
			t.Errorf("%v from %s: %s, want %s", c.err, c.rec.Topic, got, c.want)
		}
	}
	r.Permanent = map[schema.ErrorClass]bool{schema.ClassWebhookFailed: true, schema.ClassObjectMissing: false}
	if got := r.Destination(&Item{Record: fresh, Err: Retryable(schema.ClassWebhookFailed, boom)}); got != dlq {
		t.Errorf("override to permanent: %s", got)
	}
	if got := r.Destination(&Item{Record: fresh, Err: Permanent(schema.ClassObjectMissing, boom)}); got != r1 {
		t.Errorf("override to retryable: %s", got)
	}
}
