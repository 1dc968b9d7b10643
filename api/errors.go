package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/schema"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[schema.Code]int{
	schema.CodeUnauthenticated:        http.StatusUnauthorized,
	schema.CodeInvalidAPIKey:          http.StatusUnauthorized,
	schema.CodeUnsupportedMediaType:   http.StatusUnsupportedMediaType,
	schema.CodePayloadTooLarge:        http.StatusRequestEntityTooLarge,
	schema.CodeMalformedJSON:          http.StatusBadRequest,
	schema.CodeJSONTooDeep:            http.StatusBadRequest,
	schema.CodeUnknownField:           http.StatusBadRequest,
	schema.CodeInvalidField:           http.StatusBadRequest,
	schema.CodeMissingField:           http.StatusBadRequest,
	schema.CodeIdempotencyKeyMissing:  http.StatusBadRequest,
	schema.CodeIdempotencyKeyInvalid:  http.StatusBadRequest,
	schema.CodeObjectKeyForbidden:     http.StatusForbidden,
	schema.CodeObjectNotFound:         http.StatusUnprocessableEntity,
	schema.CodeObjectSizeMismatch:     http.StatusUnprocessableEntity,
	schema.CodeObjectChecksumMismatch: http.StatusUnprocessableEntity,
	schema.CodeUnknownAssignment:      http.StatusUnprocessableEntity,
	schema.CodeCourseMismatch:         http.StatusUnprocessableEntity,
	schema.CodePastCutoff:             http.StatusForbidden,
	schema.CodeNotFound:               http.StatusNotFound,
	schema.CodeRouteNotFound:          http.StatusNotFound,
	schema.CodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	schema.CodeBrokerUnavailable:      http.StatusServiceUnavailable,
	schema.CodeProduceOutcomeUnknown:  http.StatusServiceUnavailable,
	schema.CodeStorageUnavailable:     http.StatusServiceUnavailable,
	schema.CodeDatabaseUnavailable:    http.StatusServiceUnavailable,
	schema.CodeOverloaded:             http.StatusServiceUnavailable,
	schema.CodeInternal:               http.StatusInternalServerError,
}

// errorHandler writes every error as schema.ErrorBody, with Retry-After on 503s.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var se *schema.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &he):
		se = fromHTTPError(he)
	default:
		se = &schema.Error{Code: schema.CodeInternal, Message: "internal error", Err: err}
	}
	status, ok := statusOf[se.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := se.Message
	switch {
	case status == http.StatusServiceUnavailable:
		// Counted in the metrics; a log line per refusal would add work
		// exactly when the server is overloaded.
		s.log.Debug("request refused", "code", se.Code, "path", c.Path(), "err", err, "request_id", requestID(c))
	case status >= 500:
		s.log.Error("request failed", "code", se.Code, "path", c.Path(), "err", err, "request_id", requestID(c))
		if se.Code == schema.CodeInternal {
			msg = "internal error"
		}
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", strconv.Itoa(s.retryAfterSeconds()))
	}
	body := schema.ErrorBody{Error: schema.ErrorDetail{Code: se.Code, Message: msg, Field: se.Field, RequestID: requestID(c)}}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func fromHTTPError(he *echo.HTTPError) *schema.Error {
	switch he.Code {
	case http.StatusNotFound:
		return schema.NewError(schema.CodeRouteNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return schema.NewError(schema.CodeMethodNotAllowed, "method not allowed on this endpoint")
	case http.StatusRequestEntityTooLarge:
		return schema.NewError(schema.CodePayloadTooLarge, "request body too large")
	case http.StatusUnsupportedMediaType:
		return schema.NewError(schema.CodeUnsupportedMediaType, "request body must be application/json")
	case http.StatusUnauthorized:
		return schema.NewError(schema.CodeUnauthenticated, "missing or malformed Authorization header")
	}
	return &schema.Error{Code: schema.CodeInternal, Message: "internal error", Err: he}
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }
