package bare_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnin-dev/turnin/api/bare"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/kafka/embedded"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// TestBareProducesTheSameRecord posts one submission to the bare handler
// and reads back, from the real broker, the event turnin would have
// produced for it: same fields, same key, same receipt id.
func TestBareProducesTheSameRecord(t *testing.T) {
	k := testenv.NewKafka(t, embedded.Config{DataDir: t.TempDir()})
	producer, err := kafka.NewProducer(k.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	srv := httptest.NewServer(bare.Handler(producer, k.Topic, "t1"))
	defer srv.Close()

	body := `{"course_id":"cs101","assignment_id":"hw1","student_id":"s-1","object_key":"` +
		schema.StudentPrefix("t1", "cs101", "hw1", "s-1") + `essay.txt","size":3,"sha256":"` +
		strings.Repeat("a", 64) + `","content_type":"text/plain"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/submissions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "key-1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}

	r := testenv.ReadTopic(t, k.Brokers, k.Topic, 1)[0]
	ev, err := schema.DecodeSubmission(r.Value)
	if err != nil || string(r.Key) != ev.Key() {
		t.Fatalf("the acknowledged record %q is not a valid event under its key: %v", r.Key, err)
	}
	if ev.TenantID != "t1" || ev.CourseID != "cs101" || ev.AssignmentID != "hw1" || ev.StudentID != "s-1" ||
		ev.ReceiptID != schema.ReceiptID("t1", "key-1") || ev.Size != 3 || ev.ContentType != "text/plain" {
		t.Fatalf("event %+v", ev)
	}
}
