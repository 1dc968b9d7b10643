package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleEvent() *Submission {
	sub := time.Date(2026, 11, 26, 23, 58, 1, 0, time.FixedZone("EST", -5*3600))
	ev := &Submission{
		SchemaVersion:     SchemaVersion,
		EventID:           "01JDZ8Y7M6Q3V2K9W4T5R1N0PA",
		TenantID:          "uni-east",
		CourseID:          "cs101",
		AssignmentID:      "hw3",
		StudentID:         "s-000042",
		IdempotencyKey:    "6f1c2e1a-7f0e-4b8e-9a53-2b1d1c9e8a11",
		ObjectKey:         "tenants/uni-east/courses/cs101/assignments/hw3/students/s-000042/01JDZ8-report.pdf",
		Size:              48213,
		SHA256:            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ContentType:       "application/pdf",
		AcceptedAt:        time.Date(2026, 11, 27, 4, 59, 59, 123456789, time.UTC),
		ClientSubmittedAt: &sub,
		Client:            ClientMeta{UserAgent: "lms-backend/4.2", RequestID: "req-7"},
	}
	ev.ReceiptID = ReceiptID(ev.TenantID, ev.IdempotencyKey)
	ev.RequestDigest = ev.Digest()
	return ev
}

// TestSubmissionGolden pins the v1 wire format: a renamed field or a changed
// time encoding fails here before it reaches a consumer in production.
func TestSubmissionGolden(t *testing.T) {
	got, err := sampleEvent().Encode()
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	const golden = "testdata/submission.v1.golden.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("wire format changed; if intended, run go test -update and review the diff\ngot:\n%s\nwant:\n%s", pretty.Bytes(), want)
	}
	// The golden file decodes back to the same event (times in UTC).
	dec, err := DecodeSubmission(want)
	if err != nil {
		t.Fatal(err)
	}
	exp := sampleEvent()
	u := exp.ClientSubmittedAt.UTC()
	exp.ClientSubmittedAt = &u
	if !reflect.DeepEqual(dec, exp) {
		t.Errorf("decoded golden = %+v, want %+v", dec, exp)
	}
}

// TestJSONSchemaMatchesType keeps the JSON Schema and the Go type in step:
// every JSON field is described, and the required list is exactly the fields
// without omitempty.
func TestJSONSchemaMatchesType(t *testing.T) {
	var doc struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(SubmissionJSONSchema, &doc); err != nil {
		t.Fatal(err)
	}
	var fields, required []string
	rt := reflect.TypeOf(Submission{})
	for i := 0; i < rt.NumField(); i++ {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	var props []string
	for k := range doc.Properties {
		props = append(props, k)
	}
	sort.Strings(fields)
	sort.Strings(props)
	sort.Strings(required)
	sort.Strings(doc.Required)
	if !reflect.DeepEqual(fields, props) {
		t.Errorf("schema properties %v, Go fields %v", props, fields)
	}
	if !reflect.DeepEqual(required, doc.Required) {
		t.Errorf("schema required %v, Go required %v", doc.Required, required)
	}
}

func TestDecodeSubmissionForwardCompatible(t *testing.T) {
	b, _ := sampleEvent().Encode()
	b = append(b[:len(b)-1], []byte(`,"added_in_v1_1":{"x":[1,2]}}`)...)
	if _, err := DecodeSubmission(b); err != nil {
		t.Fatalf("a v1 reader must ignore added fields: %v", err)
	}
}

func TestDecodeSubmissionRejects(t *testing.T) {
	mutate := func(f func(m map[string]any)) []byte {
		b, _ := sampleEvent().Encode()
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"not json":        {[]byte("{"), ErrInvalidEvent},
		"trailing":        {append(mutate(func(map[string]any) {}), []byte(" {}")...), ErrInvalidEvent},
		"array":           {[]byte("[]"), ErrInvalidEvent},
		"newer version":   {mutate(func(m map[string]any) { m["schema_version"] = 2 }), ErrUnsupportedVersion},
		"no version":      {mutate(func(m map[string]any) { delete(m, "schema_version") }), ErrInvalidEvent},
		"bad tenant":      {mutate(func(m map[string]any) { m["tenant_id"] = "../x" }), ErrInvalidEvent},
		"foreign receipt": {mutate(func(m map[string]any) { m["receipt_id"] = ReceiptID("other", "k") }), ErrInvalidEvent},
		"other prefix": {mutate(func(m map[string]any) {
			m["object_key"] = "tenants/uni-east/courses/cs101/assignments/hw3/students/s-1/x"
		}), ErrInvalidEvent},
		"zero size":      {mutate(func(m map[string]any) { m["size"] = 0 }), ErrInvalidEvent},
		"upper sha":      {mutate(func(m map[string]any) { m["sha256"] = strings.ToUpper(m["sha256"].(string)) }), ErrInvalidEvent},
		"digest":         {mutate(func(m map[string]any) { m["size"] = 7 }), ErrInvalidEvent},
		"no accepted_at": {mutate(func(m map[string]any) { delete(m, "accepted_at") }), ErrInvalidEvent},
		"NUL event id":   {mutate(func(m map[string]any) { m["event_id"] = "e\x00" }), ErrInvalidEvent},
		"NUL media type": {func() []byte { // digest recomputed: only the NUL is wrong
			ev := sampleEvent()
			ev.ContentType = "text/plain\x00"
			ev.RequestDigest = ev.Digest()
			b, _ := ev.Encode()
			return b
		}(), ErrInvalidEvent},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeSubmission(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzDecodeSubmission(f *testing.F) {
	b, _ := sampleEvent().Encode()
	f.Add(b)
	f.Add([]byte(`{"schema_version":1}`))
	f.Add([]byte(`[[[[`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := DecodeSubmission(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode to the same event.
		out, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSubmission(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
