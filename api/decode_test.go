package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/turnin-dev/turnin/schema"
)

// FuzzDecodeSubmitRequest: whatever bytes arrive, the decoder answers with
// a value or a 4xx *schema.Error — never a panic, never a 5xx.
func FuzzDecodeSubmitRequest(f *testing.F) {
	f.Add([]byte(`{"course_id":"cs101","assignment_id":"hw1","student_id":"s","object_key":"k","size":1,"sha256":"` + strings.Repeat("a", 64) + `","content_type":"text/plain"}`))
	f.Add([]byte(`{"size":"1"}`))
	f.Add([]byte(`{"a":[[[[[[[[[[[]]]]]]]]]]]}`))
	f.Add([]byte(`{"course_id":"\"[[[[[[[[[[["}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req submitRequest
		err := decodeBody(body, DefaultMaxJSONDepth, &req)
		if err == nil {
			err = req.validate(DefaultMaxObjectSize)
		}
		if err == nil {
			return
		}
		var se *schema.Error
		if !errors.As(err, &se) {
			t.Fatalf("unclassified error %T %v", err, err)
		}
		if st := statusOf[se.Code]; st < 400 || st >= 500 {
			t.Fatalf("code %s maps to %d, want a 4xx", se.Code, st)
		}
	})
}

func TestCheckDepth(t *testing.T) {
	if err := checkDepth([]byte(`{"a":"[[[[[[[[[[[[[[[[[[[[[["}`), 2); err != nil {
		t.Errorf("brackets inside a string counted: %v", err)
	}
	if err := checkDepth([]byte(`{"a":"\"[[[[[[["}`), 2); err != nil {
		t.Errorf("escaped quote ended the string: %v", err)
	}
	if err := checkDepth([]byte(`{"a":[[{}]]}`), 3); schema.CodeOf(err) != schema.CodeJSONTooDeep {
		t.Errorf("depth 4 accepted at limit 3")
	}
}

func TestStatusTableCoversEveryCode(t *testing.T) {
	for _, c := range schema.Codes {
		if _, ok := statusOf[c]; !ok {
			t.Errorf("code %s has no HTTP status", c)
		}
	}
	if len(statusOf) != len(schema.Codes) {
		t.Errorf("status table has %d codes, schema %d", len(statusOf), len(schema.Codes))
	}
}

func TestSafeFilename(t *testing.T) {
	for in, want := range map[string]string{
		"essay.pdf": "essay.pdf", "../../x.pdf": "x.pdf", `C:\docs\a b.pdf`: "a_b.pdf",
		"..": "file", "": "file", "résumé.pdf": "r_sum_.pdf",
	} {
		if got := safeFilename(in); got != want {
			t.Errorf("safeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	_ = http.StatusOK
}
