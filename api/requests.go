package api

import (
	"mime"
	"strings"
	"time"

	"github.com/turnin-dev/turnin/schema"
)

// submitRequest is the body of POST /v1/submissions.
type submitRequest struct {
	CourseID          string `json:"course_id"`
	AssignmentID      string `json:"assignment_id"`
	StudentID         string `json:"student_id"`
	ObjectKey         string `json:"object_key"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	ContentType       string `json:"content_type"`
	ClientSubmittedAt string `json:"client_submitted_at"`
}

// assignmentRequest is the body of PUT /v1/assignments/{assignment_id}.
type assignmentRequest struct {
	CourseID   string             `json:"course_id"`
	DueAt      string             `json:"due_at"`
	CutoffAt   string             `json:"cutoff_at"`
	Extensions []extensionRequest `json:"extensions"`
}

type extensionRequest struct {
	StudentID string `json:"student_id"`
	DueAt     string `json:"due_at"`
}

// MaxExtensions bounds the extensions one assignment PUT may carry.
const MaxExtensions = 10000

func validateIDs(fields ...[2]string) error {
	for _, f := range fields {
		if f[1] == "" {
			return schema.FieldError(schema.CodeMissingField, f[0], "field "+quote(f[0])+" is required")
		}
		if err := schema.ValidateID(f[1]); err != nil {
			return schema.FieldError(schema.CodeInvalidField, f[0], "field "+quote(f[0])+": "+err.Error())
		}
	}
	return nil
}

func validateFile(size, maxSize int64, sha, contentType string) error {
	switch {
	case size == 0:
		return schema.FieldError(schema.CodeMissingField, "size", `field "size" is required and must be positive`)
	case size < 0 || size > maxSize:
		return schema.FieldError(schema.CodeInvalidField, "size", `field "size" must be between 1 and the maximum upload size`)
	case sha == "":
		return schema.FieldError(schema.CodeMissingField, "sha256", `field "sha256" is required`)
	case !schema.ValidSHA256(sha):
		return schema.FieldError(schema.CodeInvalidField, "sha256", `field "sha256" must be 64 lowercase hex digits`)
	case contentType == "":
		return schema.FieldError(schema.CodeMissingField, "content_type", `field "content_type" is required`)
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil || len(contentType) > 255 || strings.ContainsAny(contentType, "\r\n") {
		return schema.FieldError(schema.CodeInvalidField, "content_type", `field "content_type" must be a media type such as application/pdf`)
	}
	return nil
}

func (r *submitRequest) validate(maxSize int64) error {
	if err := validateIDs([2]string{"course_id", r.CourseID}, [2]string{"assignment_id", r.AssignmentID},
		[2]string{"student_id", r.StudentID}); err != nil {
		return err
	}
	if r.ObjectKey == "" {
		return schema.FieldError(schema.CodeMissingField, "object_key", `field "object_key" is required`)
	}
	if err := validateFile(r.Size, maxSize, r.SHA256, r.ContentType); err != nil {
		return err
	}
	if r.ClientSubmittedAt != "" {
		if _, err := parseTime("client_submitted_at", r.ClientSubmittedAt); err != nil {
			return err
		}
	}
	return nil
}

// validateUpload checks the body of POST /v1/uploads; it has no times to
// parse, so it decodes straight into the shared wire type.
func validateUpload(r *schema.UploadRequest, maxSize int64) error {
	if err := validateIDs([2]string{"course_id", r.CourseID}, [2]string{"assignment_id", r.AssignmentID},
		[2]string{"student_id", r.StudentID}); err != nil {
		return err
	}
	if r.Filename == "" {
		return schema.FieldError(schema.CodeMissingField, "filename", `field "filename" is required`)
	}
	if len(r.Filename) > 255 {
		return schema.FieldError(schema.CodeInvalidField, "filename", `field "filename" must be at most 255 bytes`)
	}
	return validateFile(r.Size, maxSize, r.SHA256, r.ContentType)
}

func (r *assignmentRequest) assignment(tenant, id string) (*schema.Assignment, error) {
	if err := validateIDs([2]string{"assignment_id", id}, [2]string{"course_id", r.CourseID}); err != nil {
		return nil, err
	}
	if r.DueAt == "" {
		return nil, schema.FieldError(schema.CodeMissingField, "due_at", `field "due_at" is required`)
	}
	due, err := parseTime("due_at", r.DueAt)
	if err != nil {
		return nil, err
	}
	a := &schema.Assignment{TenantID: tenant, AssignmentID: id, CourseID: r.CourseID, DueAt: due}
	if r.CutoffAt != "" {
		c, err := parseTime("cutoff_at", r.CutoffAt)
		if err != nil {
			return nil, err
		}
		if c.Before(due) {
			return nil, schema.FieldError(schema.CodeInvalidField, "cutoff_at", `field "cutoff_at" must not be before "due_at"`)
		}
		a.CutoffAt = &c
	}
	if len(r.Extensions) > MaxExtensions {
		return nil, schema.FieldError(schema.CodeInvalidField, "extensions", `field "extensions" holds more than 10000 entries`)
	}
	for i, e := range r.Extensions {
		if err := validateIDs([2]string{"extensions.student_id", e.StudentID}); err != nil {
			return nil, err
		}
		d, err := parseTime("extensions.due_at", e.DueAt)
		if err != nil {
			return nil, err
		}
		if a.Extensions == nil {
			a.Extensions = map[string]time.Time{}
		}
		if _, dup := a.Extensions[e.StudentID]; dup {
			return nil, schema.FieldError(schema.CodeInvalidField, "extensions", "student "+quote(r.Extensions[i].StudentID)+" has two extensions")
		}
		a.Extensions[e.StudentID] = d
	}
	return a, nil
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, schema.FieldError(schema.CodeInvalidField, field, "field "+quote(field)+" must be an RFC 3339 time such as 2026-12-01T23:59:00Z")
	}
	return t.UTC(), nil
}
