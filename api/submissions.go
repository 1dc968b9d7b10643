package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// handleSubmit is the accept path. Its work is fixed and small, and it
// never touches PostgreSQL: validate, judge the deadline from the snapshot,
// one HEAD on the object store, one record produced with acks=all. It
// answers 202 only once the broker has acknowledged the record.
func (s *Server) handleSubmit(c echo.Context) error {
	tenant := tenantOf(c)
	req := c.Request()
	idemKey := req.Header.Get("Idempotency-Key")
	if idemKey == "" {
		return schema.NewError(schema.CodeIdempotencyKeyMissing, "send an Idempotency-Key header: one unique value per submission attempt, resent unchanged on every retry")
	}
	if err := schema.ValidateIdempotencyKey(idemKey); err != nil {
		return schema.NewError(schema.CodeIdempotencyKeyInvalid, "Idempotency-Key: "+err.Error())
	}
	var body submitRequest
	if err := decodeJSON(req, s.cfg.MaxBodyBytes, s.cfg.MaxJSONDepth, &body); err != nil {
		return err
	}
	if err := body.validate(s.cfg.MaxObjectSize); err != nil {
		return err
	}
	if !schema.HasStudentPrefix(body.ObjectKey, tenant, body.CourseID, body.AssignmentID, body.StudentID) {
		return schema.FieldError(schema.CodeObjectKeyForbidden, "object_key",
			"object_key must be under "+schema.StudentPrefix(tenant, body.CourseID, body.AssignmentID, body.StudentID))
	}
	a, err := s.openAssignment(tenant, body.CourseID, body.AssignmentID, body.StudentID)
	if err != nil {
		return err
	}
	if s.cfg.ObjectCheck == ObjectCheckHead {
		if err := s.checkObject(req.Context(), &body); err != nil {
			return err
		}
	}

	ev := &schema.Submission{
		SchemaVersion:  schema.SchemaVersion,
		EventID:        newEventID(),
		ReceiptID:      schema.ReceiptID(tenant, idemKey),
		TenantID:       tenant,
		CourseID:       body.CourseID,
		AssignmentID:   body.AssignmentID,
		StudentID:      body.StudentID,
		IdempotencyKey: idemKey,
		ObjectKey:      body.ObjectKey,
		Size:           body.Size,
		SHA256:         body.SHA256,
		ContentType:    body.ContentType,
		Client:         schema.ClientMeta{UserAgent: truncate(req.UserAgent(), 256), RequestID: requestID(c)},
	}
	if body.ClientSubmittedAt != "" {
		t, _ := parseTime("client_submitted_at", body.ClientSubmittedAt) // validated above
		ev.ClientSubmittedAt = &t
	}
	ev.RequestDigest = ev.Digest()
	// accepted_at is the server clock when the event is handed to the
	// broker; the cut-off was judged a moment ago, and lateness is judged
	// on this value everywhere, by the receipt and by the consumers. It is
	// kept to the microsecond, PostgreSQL's precision, so the receipt, the
	// event and the stored row carry the very same instant.
	ev.AcceptedAt = s.now().UTC().Truncate(time.Microsecond)
	late, secs := a.Lateness(ev.StudentID, ev.AcceptedAt)
	status, state := http.StatusAccepted, schema.StateQueued
	if s.cfg.AcceptMode == AcceptSync {
		if err := s.syncSubmit(req.Context(), ev, late, secs); err != nil {
			return err
		}
		status, state = http.StatusOK, schema.StateProcessed
	} else if err := s.produce(req, ev); err != nil {
		return err
	}
	s.metrics.accepted.Inc()
	receipt := schema.NewReceipt(ev)
	receipt.Sign(s.cfg.ReceiptKeyID, s.cfg.ReceiptKey)
	c.Response().Header().Set(echo.HeaderLocation, s.statusURL(ev.ReceiptID))
	return c.JSON(status, &schema.SubmitResponse{
		ReceiptID: ev.ReceiptID, State: state, AcceptedAt: ev.AcceptedAt, StatusURL: s.statusURL(ev.ReceiptID),
		Late: late, SecondsLate: secs, Receipt: receipt,
	})
}

// openAssignment returns the assignment if the student may submit to it now.
func (s *Server) openAssignment(tenant, course, assignment, student string) (*schema.Assignment, error) {
	a := s.snap.assignment(tenant, assignment)
	if a == nil {
		return nil, schema.FieldError(schema.CodeUnknownAssignment, "assignment_id",
			"no assignment "+quote(assignment)+" for this tenant; create it with PUT /v1/assignments/{assignment_id}")
	}
	if a.CourseID != course {
		return nil, schema.FieldError(schema.CodeCourseMismatch, "course_id", "assignment "+quote(assignment)+" belongs to another course")
	}
	if a.Closed(student, s.now()) {
		return nil, schema.NewError(schema.CodePastCutoff, "the assignment's cut-off has passed; submissions are closed")
	}
	return a, nil
}

// checkObject makes one HEAD request: the object must exist with the
// declared size and, when the store kept a checksum, the declared SHA-256.
func (s *Server) checkObject(ctx context.Context, body *submitRequest) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatTimeout)
	defer cancel()
	info, err := s.store.Stat(ctx, body.ObjectKey)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return schema.FieldError(schema.CodeObjectNotFound, "object_key", "nothing is stored under object_key; upload the file first (POST /v1/uploads)")
	case err != nil:
		return &schema.Error{Code: schema.CodeStorageUnavailable, Message: "the object store did not answer; retry with the same Idempotency-Key", Err: err}
	case info.Size != body.Size:
		return schema.FieldError(schema.CodeObjectSizeMismatch, "size", "the stored object's size differs from the declared size")
	case info.SHA256 != "" && info.SHA256 != body.SHA256:
		return schema.FieldError(schema.CodeObjectChecksumMismatch, "sha256", "the stored object's SHA-256 differs from the declared one")
	}
	return nil
}

// produce writes the event and waits, at most ProduceTimeout, for the
// broker's acknowledgement (acks=all). It never reports failure for a
// record that may have been written: that is "outcome unknown", and the
// client resends with the same key.
func (s *Server) produce(req *http.Request, ev *schema.Submission) error {
	val, err := ev.Encode()
	if err != nil {
		return err
	}
	rec := &kgo.Record{
		Topic:     s.topic,
		Key:       []byte(ev.Key()),
		Value:     val,
		Timestamp: ev.AcceptedAt,
		Headers: []kgo.RecordHeader{
			{Key: schema.HeaderSchemaVersion, Value: []byte("1")},
			{Key: schema.HeaderEventID, Value: []byte(ev.EventID)},
			{Key: schema.HeaderTenant, Value: []byte(ev.TenantID)},
			{Key: schema.HeaderContentType, Value: []byte(schema.EventContentType)},
			{Key: schema.HeaderTraceParent, Value: []byte(traceParent(req.Header.Get("traceparent")))},
		},
	}
	done := make(chan error, 1)
	// The record's own context is not the request's: a client that hangs
	// up must not cancel a record other records are batched with.
	s.producer.TryProduce(context.Background(), rec, func(_ *kgo.Record, err error) { done <- err })
	t := time.NewTimer(s.cfg.ProduceTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return s.classifyProduceError(err)
	case <-t.C:
		s.metrics.produceErrors.WithLabelValues("timeout").Inc()
		return schema.NewError(schema.CodeProduceOutcomeUnknown,
			"the broker did not acknowledge in time; the submission may or may not be recorded: retry with the same Idempotency-Key")
	case <-req.Context().Done():
		s.metrics.produceErrors.WithLabelValues("client_gone").Inc()
		return &schema.Error{Code: schema.CodeProduceOutcomeUnknown, Message: "client went away before the acknowledgement", Err: req.Context().Err()}
	}
}

func (s *Server) classifyProduceError(err error) error {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrMaxBuffered):
		s.metrics.produceErrors.WithLabelValues("buffer_full").Inc()
		s.metrics.rejected.WithLabelValues("producer_buffer").Inc()
		return &schema.Error{Code: schema.CodeOverloaded, Message: "the producer buffer is full; retry with the same Idempotency-Key", Err: err}
	case errors.As(err, &ke) && !ke.Retriable:
		// The broker answered and refused the record: nothing was written.
		s.metrics.produceErrors.WithLabelValues("refused").Inc()
		return &schema.Error{Code: schema.CodeBrokerUnavailable, Message: "the broker refused the submission; retry with the same Idempotency-Key", Err: err}
	default:
		// Timeouts and retriable errors after retries: an earlier attempt
		// may have been written.
		s.metrics.produceErrors.WithLabelValues("unknown").Inc()
		return &schema.Error{Code: schema.CodeProduceOutcomeUnknown, Message: "the broker did not confirm the submission; it may or may not be recorded: retry with the same Idempotency-Key", Err: err}
	}
}

func (s *Server) statusURL(receiptID string) string {
	return s.cfg.PublicURL + "/v1/submissions/" + receiptID
}

// newEventID returns a UUIDv7: time-ordered, so ids sort by creation.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// traceParent continues the caller's W3C trace with a new span id, or
// starts a new trace when the header is absent or malformed.
func traceParent(in string) string {
	var span [8]byte
	_, _ = rand.Read(span[:])
	if len(in) == 55 && in[2] == '-' && in[35] == '-' && in[52] == '-' && isHex(in[3:35]) && isHex(in[53:55]) &&
		in[0:2] == "00" && in[3:35] != "00000000000000000000000000000000" {
		return "00-" + in[3:35] + "-" + hex.EncodeToString(span[:]) + "-" + in[53:55]
	}
	var trace [16]byte
	_, _ = rand.Read(trace[:])
	return "00-" + hex.EncodeToString(trace[:]) + "-" + hex.EncodeToString(span[:]) + "-01"
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// syncSubmit is the comparison baseline's write: the whole job inline,
// before the answer (see AcceptSync).
func (s *Server) syncSubmit(ctx context.Context, ev *schema.Submission, late bool, secs int64) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProduceTimeout)
	defer cancel()
	if _, err := pgstore.SyncSubmit(ctx, s.db, ev, late, secs); err != nil {
		return &schema.Error{Code: schema.CodeDatabaseUnavailable, Message: "the database did not take the submission; retry with the same Idempotency-Key", Err: err}
	}
	return nil
}
