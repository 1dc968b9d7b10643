// Package bare is the bare baseline every accept figure is quoted beside:
// a minimal echo handler that decodes the submit body and produces the same
// event record, with the producer it is given (acks=all, idempotent, as
// turnin's), then answers 202 once the broker acknowledged it. It does no
// authentication, validation, deadline check, object check or receipt
// signature, so the difference between it and turnin, measured in the same
// run on the same broker, is turnin's own cost; a noisy machine slows both.
//
// It is a measuring instrument, not a way to accept submissions: the
// benchmarks (api) and `turnin flood` (cmd/turnin) use this one copy.
package bare

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/schema"
)

// Handler serves POST /v1/submissions: it produces each submission as an
// event of tenant to topic and answers 202 {"receipt_id": …} once the
// broker acknowledged it, 400 for a body that is not JSON, 503 if the
// produce failed.
func Handler(producer *kgo.Client, topic, tenant string) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/v1/submissions", func(c echo.Context) error {
		var req struct {
			CourseID     string `json:"course_id"`
			AssignmentID string `json:"assignment_id"`
			StudentID    string `json:"student_id"`
			ObjectKey    string `json:"object_key"`
			SHA256       string `json:"sha256"`
			ContentType  string `json:"content_type"`
			Size         int64  `json:"size"`
		}
		if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		ev := &schema.Submission{SchemaVersion: 1, EventID: "bare", TenantID: tenant, CourseID: req.CourseID,
			AssignmentID: req.AssignmentID, StudentID: req.StudentID, IdempotencyKey: c.Request().Header.Get("Idempotency-Key"),
			ObjectKey: req.ObjectKey, Size: req.Size, SHA256: req.SHA256, ContentType: req.ContentType, AcceptedAt: time.Now()}
		ev.ReceiptID = schema.ReceiptID(ev.TenantID, ev.IdempotencyKey)
		ev.RequestDigest = ev.Digest()
		val, _ := ev.Encode()
		if err := producer.ProduceSync(c.Request().Context(), &kgo.Record{Topic: topic, Key: []byte(ev.Key()), Value: val}).FirstErr(); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.JSON(http.StatusAccepted, map[string]string{"receipt_id": ev.ReceiptID})
	})
	return e
}
