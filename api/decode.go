package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/turnin-dev/turnin/schema"
)

// decodeJSON reads one JSON object from r into v, strictly: the body must
// be application/json, at most maxBytes long, nested at most maxDepth deep,
// hold exactly one object, and name only fields v defines. Every failure is
// a *schema.Error with a 4xx code.
func decodeJSON(r *http.Request, maxBytes int64, maxDepth int, v any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return schema.NewError(schema.CodeMalformedJSON, "could not read the request body")
	}
	if int64(len(body)) > maxBytes {
		return schema.NewError(schema.CodePayloadTooLarge, "request body larger than the limit")
	}
	return decodeBody(body, maxDepth, v)
}

func checkJSONContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return schema.NewError(schema.CodeUnsupportedMediaType, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return schema.NewError(schema.CodeUnsupportedMediaType, "the only charset accepted is utf-8")
	}
	return nil
}

// decodeBody is the part of decodeJSON that sees only bytes; it is the
// fuzzed decoder.
func decodeBody(body []byte, maxDepth int, v any) error {
	if err := checkDepth(body, maxDepth); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return schema.NewError(schema.CodeMalformedJSON, "request body must be one JSON object")
	}
	known := fieldsOf(reflect.TypeOf(v).Elem())
	for name := range fields {
		if !known[name] {
			return schema.FieldError(schema.CodeUnknownField, name, "unknown field "+quote(name))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // nested objects too (top-level names were checked above)
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return schema.FieldError(schema.CodeInvalidField, te.Field, "field "+quote(te.Field)+" must be "+jsonKind(te.Type))
		}
		if f, msg, ok := fieldError(err); ok {
			return schema.FieldError(schema.CodeInvalidField, f, msg)
		}
		// Well-formed JSON that decodes without DisallowUnknownFields but
		// not with it holds an unknown field in a nested object.
		if json.Unmarshal(body, reflect.New(reflect.TypeOf(v).Elem()).Interface()) == nil {
			return schema.NewError(schema.CodeUnknownField, "a nested object holds a field the endpoint does not define")
		}
		return schema.NewError(schema.CodeMalformedJSON, "request body is not valid JSON")
	}
	return nil
}

// checkDepth refuses input nested deeper than max before any decoder
// allocates for it. It tracks strings so brackets inside them do not count.
func checkDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return schema.NewError(schema.CodeJSONTooDeep, "JSON nested deeper than the limit")
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// fieldError recognises errors our own field types return while decoding.
func fieldError(err error) (field, msg string, ok bool) {
	var fe *decodeFieldError
	if errors.As(err, &fe) {
		return fe.field, fe.msg, true
	}
	return "", "", false
}

type decodeFieldError struct{ field, msg string }

func (e *decodeFieldError) Error() string { return e.field + ": " + e.msg }

var fieldCache sync.Map // reflect.Type -> map[string]bool

func fieldsOf(t reflect.Type) map[string]bool {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	fieldCache.Store(t, m)
	return m
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		if t.String() == "time.Time" {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return "of another type"
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}
