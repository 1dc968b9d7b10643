package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/schema"
)

// handleUpload signs a PUT straight to object storage, under the
// student's prefix, bound to the declared content type and SHA-256: the
// file's bytes never pass through turnin.
func (s *Server) handleUpload(c echo.Context) error {
	tenant := tenantOf(c)
	var body schema.UploadRequest
	if err := decodeJSON(c.Request(), s.cfg.MaxBodyBytes, s.cfg.MaxJSONDepth, &body); err != nil {
		return err
	}
	if err := validateUpload(&body, s.cfg.MaxObjectSize); err != nil {
		return err
	}
	if _, err := s.openAssignment(tenant, body.CourseID, body.AssignmentID, body.StudentID); err != nil {
		return err
	}
	key := schema.StudentPrefix(tenant, body.CourseID, body.AssignmentID, body.StudentID) +
		newEventID() + "/" + safeFilename(body.Filename)
	p, err := s.store.PresignPut(c.Request().Context(), objstore.Upload{
		Key: key, Size: body.Size, SHA256: body.SHA256, ContentType: body.ContentType,
	})
	if err != nil {
		return &schema.Error{Code: schema.CodeStorageUnavailable, Message: "could not sign an upload URL", Err: err}
	}
	return c.JSON(http.StatusCreated, &schema.UploadResponse{
		UploadURL: p.URL, ObjectKey: key, ExpiresAt: p.ExpiresAt, Headers: p.Headers, Method: http.MethodPut,
	})
}

// safeFilename keeps a filename readable inside an object key: letters,
// digits, '.', '_' and '-'; anything else becomes '_'.
func safeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 100 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		return "file"
	}
	return out
}
