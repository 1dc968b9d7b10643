package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/api/client"
	"github.com/turnin-dev/turnin/platform/testenv"
	"github.com/turnin-dev/turnin/schema"
)

// The OpenAPI document in schema is the source of truth for the HTTP
// contract. These tests hold the real server to it: the same routes, and
// answers — successes and errors alike — that validate against it.

const (
	extErrorCodes = "x-turnin-error-codes"
	extStatus     = "x-turnin-status"
	errorSchema   = "#/components/schemas/Error"
)

// loadOpenAPI parses and validates schema.OpenAPI.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(schema.OpenAPI)
	if err != nil {
		t.Fatalf("parse schema/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("schema/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// documentedOp is one operation of the document.
type documentedOp struct {
	route   api.Route
	op      *openapi3.Operation
	planned bool
}

func documentedOps(doc *openapi3.T) []documentedOp {
	var out []documentedOp
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			status, _ := op.Extensions[extStatus].(string)
			out = append(out, documentedOp{route: api.Route{Method: method, Path: path}, op: op, planned: status == "planned"})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].route.Path != out[j].route.Path {
			return out[i].route.Path < out[j].route.Path
		}
		return out[i].route.Method < out[j].route.Method
	})
	return out
}

// errorCodes reads an x-turnin-error-codes extension: status → codes.
func errorCodes(ext any) (map[string][]string, error) {
	if ext == nil {
		return nil, nil
	}
	b, err := json.Marshal(ext)
	if err != nil {
		return nil, err
	}
	var out map[string][]string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s must map a status to a list of codes: %w", extErrorCodes, err)
	}
	return out, nil
}

func isErrorResponse(r *openapi3.ResponseRef) bool {
	if r == nil || r.Value == nil {
		return false
	}
	mt := r.Value.Content.Get("application/json")
	return mt != nil && mt.Schema != nil && mt.Schema.Ref == errorSchema
}

// TestOpenAPIDocument checks the document on its own: it is valid OpenAPI
// 3.1, its error codes are exactly schema.Codes, every operation lists the
// codes it answers with (in its description too) under statuses it
// documents, security is where the contract says, and request bodies are
// closed.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}

	// The error code enum is schema.Codes, no more, no less.
	codeSchema := doc.Components.Schemas["ErrorCode"]
	if codeSchema == nil || codeSchema.Value == nil {
		t.Fatal("components.schemas.ErrorCode is missing")
	}
	enum := map[string]bool{}
	for _, v := range codeSchema.Value.Enum {
		s, _ := v.(string)
		if enum[s] {
			t.Errorf("ErrorCode enum lists %q twice", s)
		}
		enum[s] = true
	}
	known := map[string]bool{}
	for _, c := range schema.Codes {
		known[string(c)] = true
		if !enum[string(c)] {
			t.Errorf("schema.Codes has %q; the ErrorCode enum does not", c)
		}
		if !strings.Contains(codeSchema.Value.Description, "`"+string(c)+"`") {
			t.Errorf("the ErrorCode description does not explain %q", c)
		}
	}
	for c := range enum {
		if !known[c] {
			t.Errorf("the ErrorCode enum has %q; schema.Codes does not", c)
		}
	}
	if errSchema := doc.Components.Schemas["Error"]; errSchema == nil {
		t.Fatal("components.schemas.Error is missing")
	}

	used := map[string]bool{}
	global, err := errorCodes(doc.Extensions[extErrorCodes])
	if err != nil {
		t.Fatal(err)
	}
	for _, codes := range global {
		for _, c := range codes {
			used[c] = true
			if !enum[c] {
				t.Errorf("top-level %s names %q, which is not in the ErrorCode enum", extErrorCodes, c)
			}
		}
	}

	for _, d := range documentedOps(doc) {
		name := d.route.Method + " " + d.route.Path
		op := d.op

		// Security: the tenant's key on /v1, nothing on the operator endpoints.
		sec := doc.Security
		if op.Security != nil {
			sec = *op.Security
		}
		if strings.HasPrefix(d.route.Path, "/v1/") {
			bearer := len(sec) == 1 && len(sec[0]) == 1
			if bearer {
				_, bearer = sec[0]["bearerAuth"]
			}
			if !bearer {
				t.Errorf("%s: security = %v, want bearerAuth", name, sec)
			}
		} else if len(sec) != 0 {
			t.Errorf("%s: security = %v, want none", name, sec)
		}

		// Request bodies name only documented fields, like the server's decoder.
		if op.RequestBody != nil {
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
				t.Errorf("%s: request body is not application/json", name)
			} else if ap := mt.Schema.Value.AdditionalProperties; ap.Has == nil || *ap.Has {
				t.Errorf("%s: request body schema must set additionalProperties: false", name)
			}
		}

		codes, err := errorCodes(op.Extensions[extErrorCodes])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for status, list := range codes {
			resp := op.Responses.Value(status)
			if !isErrorResponse(resp) {
				t.Errorf("%s: %s lists codes for %s, which is not a documented Error response", name, extErrorCodes, status)
			}
			if len(list) == 0 {
				t.Errorf("%s: %s lists no codes for %s", name, extErrorCodes, status)
			}
			for _, c := range list {
				used[c] = true
				if !enum[c] {
					t.Errorf("%s: %s names %q, which is not in the ErrorCode enum", name, extErrorCodes, c)
				}
				if !strings.Contains(op.Description, "`"+c+"`") {
					t.Errorf("%s: the description does not list code %q", name, c)
				}
			}
		}
		for status, resp := range op.Responses.Map() {
			if resp.Value == nil {
				t.Errorf("%s: response %s is unresolved", name, status)
				continue
			}
			if status == "503" {
				h := resp.Value.Headers["Retry-After"]
				if h == nil || h.Value == nil || !h.Value.Required {
					t.Errorf("%s: 503 does not document a required Retry-After header", name)
				}
			}
			if isErrorResponse(resp) && codes[status] == nil {
				t.Errorf("%s: %s documents an error response but %s does not list its codes", name, status, extErrorCodes)
			}
			if n, _ := strconv.Atoi(status); n >= 400 && !isErrorResponse(resp) && d.route.Path != "/readyz" {
				t.Errorf("%s: %s is not the Error schema", name, status)
			}
		}
	}
	for c := range enum {
		if !used[c] {
			t.Errorf("no operation (nor the top-level %s) says which answers carry code %q", extErrorCodes, c)
		}
	}
}

// TestOpenAPIRoutes: the server registers exactly the documented routes,
// except planned ones it does not serve yet.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newHarness(t, harnessOpts{})
	registered := map[api.Route]bool{}
	for _, r := range h.srv.Routes() {
		// The dashboard's HTML pages are for browsers and are not part of
		// the JSON contract; the JSON they read is.
		if api.IsDashboardPage(r.Path) {
			continue
		}
		registered[r] = true
	}
	if len(registered) == 0 {
		t.Fatal("the server registers no routes")
	}
	for _, d := range documentedOps(doc) {
		switch {
		case !registered[d.route] && d.planned:
			t.Logf("%s %s is planned and not served yet: skipped", d.route.Method, d.route.Path)
		case !registered[d.route]:
			t.Errorf("%s %s is documented but the server does not register it", d.route.Method, d.route.Path)
		case d.planned:
			t.Logf("%s %s is served now: drop %s: planned from schema/openapi.yaml", d.route.Method, d.route.Path, extStatus)
		}
		delete(registered, d.route)
	}
	for r := range registered {
		t.Errorf("%s %s is served but not documented in schema/openapi.yaml", r.Method, r.Path)
	}
}

// contract sends requests to the real server and checks each exchange
// against the document.
type contract struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	http   *http.Client
	codes  map[string][]string // top-level x-turnin-error-codes, for unrouted answers
}

func newContract(t *testing.T, baseURL string) *contract {
	t.Helper()
	doc := loadOpenAPI(t)
	closeResponseObjects(doc)
	doc.Servers = openapi3.Servers{{URL: baseURL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := errorCodes(doc.Extensions[extErrorCodes])
	if err != nil {
		t.Fatal(err)
	}
	return &contract{t: t, doc: doc, router: router, base: baseURL, http: &http.Client{Timeout: 30 * time.Second}, codes: codes}
}

// closeResponseObjects sets additionalProperties: false on every object
// schema that lists properties and says nothing about others. Clients must
// ignore fields they do not know; this test is stricter, so a field the
// server sends but the document does not describe fails it.
func closeResponseObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var closeSchema func(*openapi3.SchemaRef)
	closeSchema = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if len(v.Properties) > 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
			v.AdditionalProperties.Has = openapi3.Ptr(false)
		}
		for _, p := range v.Properties {
			closeSchema(p)
		}
		closeSchema(v.Items)
		closeSchema(v.AdditionalProperties.Schema)
	}
	for _, s := range doc.Components.Schemas {
		closeSchema(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						closeSchema(mt.Schema)
					}
				}
			}
		}
	}
}

// exchange is one request and what the server and the document must make
// of it.
type exchange struct {
	method, path string
	key          string // bearer API key; empty sends no Authorization
	header       map[string]string
	body         string // JSON unless header sets Content-Type
	status       int    // the status the server must answer
	code         schema.Code
	// rejected: the document must refuse the request too. Otherwise it
	// must accept it (a 4xx then comes from a rule the document cannot
	// express, such as an unknown assignment).
	rejected bool
}

// bearerOnly is the document's security as the validator can check it: an
// Authorization: Bearer header with a key in it. Whether the key is known
// is the server's business.
func bearerOnly(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, key, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return in.NewError(errors.New("no Authorization: Bearer <api key>"))
	}
	return nil
}

func (x exchange) request(ctx context.Context, base string) *http.Request {
	var body io.Reader
	if x.body != "" {
		body = strings.NewReader(x.body)
	}
	req, err := http.NewRequestWithContext(ctx, x.method, base+x.path, body)
	if err != nil {
		panic(err)
	}
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if x.key != "" {
		req.Header.Set("Authorization", "Bearer "+x.key)
	}
	for k, v := range x.header {
		req.Header.Set(k, v)
	}
	return req
}

// do sends x to the server, checks the exchange against the document and
// returns the answer's headers and body.
func (c *contract) do(x exchange) (http.Header, []byte) {
	t := c.t
	t.Helper()
	name := x.method + " " + x.path
	ctx := testenv.Ctx(t, 30*time.Second)
	resp, err := c.http.Do(x.request(ctx, c.base))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: read answer: %v", name, err)
	}
	if resp.StatusCode != x.status {
		t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, x.status, body)
		return resp.Header, body
	}
	var listed []string
	route, params, err := c.router.FindRoute(x.request(ctx, c.base))
	if err != nil {
		// Not a documented operation: the answer must be a documented
		// router-level error.
		listed = c.codes[strconv.Itoa(resp.StatusCode)]
		if len(listed) == 0 {
			t.Errorf("%s: not in the document (%v), and %d is not a documented router-level error", name, err, resp.StatusCode)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: answer is not JSON: %v: %s", name, err, body)
		} else if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
			t.Errorf("%s: %d answer does not match the Error schema: %v\n%s", name, resp.StatusCode, err, body)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", name)
		}
	} else {
		opts := &openapi3filter.Options{AuthenticationFunc: bearerOnly, MultiError: true}
		in := &openapi3filter.RequestValidationInput{Request: x.request(ctx, c.base), PathParams: params, Route: route, Options: opts}
		reqErr := openapi3filter.ValidateRequest(ctx, in)
		switch {
		case x.rejected && reqErr == nil:
			t.Errorf("%s: the server refuses the request with %d %s, but the document accepts it", name, resp.StatusCode, x.code)
		case !x.rejected && reqErr != nil:
			t.Errorf("%s: the server answers %d, but the document refuses the request: %v", name, resp.StatusCode, reqErr)
		}
		rin := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body:    io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
			t.Errorf("%s: the %d answer does not match the document: %v\n%s", name, resp.StatusCode, err, body)
		}
		codes, err := errorCodes(route.Operation.Extensions[extErrorCodes])
		if err != nil {
			t.Fatal(err)
		}
		listed = codes[strconv.Itoa(resp.StatusCode)]
	}
	if x.code != "" {
		var eb schema.ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if eb.Error.Code != x.code {
			t.Errorf("%s: code %q, want %q: %s", name, eb.Error.Code, x.code, body)
		}
		if !slices.Contains(listed, string(eb.Error.Code)) {
			t.Errorf("%s: answered %d %s, which the document does not list for it (%v)", name, resp.StatusCode, eb.Error.Code, listed)
		}
		if eb.Error.RequestID == "" || eb.Error.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: request_id %q, X-Request-Id %q", name, eb.Error.RequestID, resp.Header.Get("X-Request-Id"))
		}
	}
	return resp.Header, body
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOpenAPIResponses drives the real server through successes and
// failures and validates every request and answer against the document.
func TestOpenAPIResponses(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := newContract(t, h.url)
	ctx := testenv.Ctx(t, 60*time.Second)
	key := h.keyA
	now := time.Now().UTC().Truncate(time.Second)

	// Operator endpoints.
	c.do(exchange{method: http.MethodGet, path: "/healthz", status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/readyz", status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/metrics", status: http.StatusOK})

	// Assignments.
	c.do(exchange{method: http.MethodPut, path: "/v1/assignments/hw1", key: key, status: http.StatusOK,
		body: jsonBody(t, map[string]any{
			"course_id": "cs101", "due_at": now.Add(24 * time.Hour), "cutoff_at": now.Add(48 * time.Hour),
			"extensions": []map[string]any{{"student_id": "s-7", "due_at": now.Add(72 * time.Hour)}},
		})})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1", key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/nope", key: key, status: http.StatusNotFound, code: schema.CodeNotFound})
	c.do(exchange{method: http.MethodPut, path: "/v1/assignments/hw2", key: key, status: http.StatusBadRequest,
		code: schema.CodeMissingField, rejected: true, body: `{"course_id":"cs101"}`})
	c.do(exchange{method: http.MethodPut, path: "/v1/assignments/hw2", key: key, status: http.StatusBadRequest,
		code: schema.CodeInvalidField, // a rule the document states in words only
		body: jsonBody(t, map[string]any{"course_id": "cs101", "due_at": now, "cutoff_at": now.Add(-time.Hour)})})

	// Upload, then submit.
	file := []byte("%PDF-1.7 an essay")
	up := uploadReq("s-42", file)
	_, body := c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusCreated, body: jsonBody(t, up)})
	var upload client.Upload
	if err := json.Unmarshal(body, &upload); err != nil {
		t.Fatal(err)
	}
	if err := h.a.PutObject(ctx, &upload, file); err != nil {
		t.Fatal(err)
	}
	sub := client.SubmitRequest{CourseID: "cs101", AssignmentID: "hw1", StudentID: "s-42", ObjectKey: upload.ObjectKey,
		Size: up.Size, SHA256: up.SHA256, ContentType: up.ContentType, ClientSubmittedAt: &now}
	hdr, body := c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusAccepted,
		header: map[string]string{"Idempotency-Key": "attempt-1"}, body: jsonBody(t, sub)})
	var rc client.Receipt
	if err := json.Unmarshal(body, &rc); err != nil {
		t.Fatal(err)
	}
	if hdr.Get("Location") != rc.StatusURL {
		t.Errorf("Location %q, status_url %q", hdr.Get("Location"), rc.StatusURL)
	}

	// Authentication.
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", status: http.StatusUnauthorized,
		code: schema.CodeUnauthenticated, rejected: true, body: jsonBody(t, up)})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: "not-a-key", status: http.StatusUnauthorized,
		code: schema.CodeInvalidAPIKey, body: jsonBody(t, up)})

	// Request shape.
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusBadRequest,
		code: schema.CodeUnknownField, rejected: true,
		body: strings.Replace(jsonBody(t, up), `{`, `{"colour":"blue",`, 1)})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusBadRequest,
		code: schema.CodeInvalidField, rejected: true,
		body: strings.Replace(jsonBody(t, up), up.SHA256, strings.ToUpper(up.SHA256), 1)})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusBadRequest,
		code: schema.CodeMalformedJSON, rejected: true, body: `{"course_id":`})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusBadRequest,
		code: schema.CodeJSONTooDeep, rejected: true, body: `{"course_id":[[[[[[[[[["cs101"]]]]]]]]]]}`})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusUnsupportedMediaType,
		code: schema.CodeUnsupportedMediaType, rejected: true, header: map[string]string{"Content-Type": "text/plain"},
		body: jsonBody(t, up)})
	c.do(exchange{method: http.MethodPost, path: "/v1/uploads", key: key, status: http.StatusRequestEntityTooLarge,
		code: schema.CodePayloadTooLarge, rejected: true,
		body: strings.Replace(jsonBody(t, up), `"essay.pdf"`, `"`+strings.Repeat("a", api.DefaultMaxBodyBytes)+`"`, 1)})
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusBadRequest,
		code: schema.CodeIdempotencyKeyMissing, rejected: true, body: jsonBody(t, sub)})
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusBadRequest,
		code: schema.CodeIdempotencyKeyInvalid, rejected: true, header: map[string]string{"Idempotency-Key": "two words"},
		body: jsonBody(t, sub)})

	// Domain rules the document states in words: valid requests, refused.
	other := sub
	other.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw1", "s-43") + "x/essay.pdf"
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusForbidden,
		code: schema.CodeObjectKeyForbidden, header: map[string]string{"Idempotency-Key": "attempt-2"}, body: jsonBody(t, other)})
	unknown := sub
	unknown.AssignmentID = "hw9"
	unknown.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw9", "s-42") + "x/essay.pdf"
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusUnprocessableEntity,
		code: schema.CodeUnknownAssignment, header: map[string]string{"Idempotency-Key": "attempt-3"}, body: jsonBody(t, unknown)})
	missing := sub
	missing.ObjectKey = schema.StudentPrefix("uni-a", "cs101", "hw1", "s-42") + "never/uploaded.pdf"
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusUnprocessableEntity,
		code: schema.CodeObjectNotFound, header: map[string]string{"Idempotency-Key": "attempt-4"}, body: jsonBody(t, missing)})

	// Outside the documented operations.
	c.do(exchange{method: http.MethodGet, path: "/v1/nope", key: key, status: http.StatusNotFound, code: schema.CodeRouteNotFound})
	c.do(exchange{method: http.MethodGet, path: "/nope", status: http.StatusNotFound, code: schema.CodeRouteNotFound})
	c.do(exchange{method: http.MethodPost, path: "/healthz", status: http.StatusMethodNotAllowed, code: schema.CodeMethodNotAllowed})
	c.do(exchange{method: http.MethodDelete, path: "/v1/assignments/hw1", key: key, status: http.StatusMethodNotAllowed,
		code: schema.CodeMethodNotAllowed})

	// Status and list: queued before a consumer records it, processed after.
	c.do(exchange{method: http.MethodGet, path: "/v1/submissions/" + rc.ReceiptID, key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/submissions/not-a-receipt", key: key, status: http.StatusBadRequest,
		code: schema.CodeInvalidField})
	h.recordAll()
	_, body = c.do(exchange{method: http.MethodGet, path: "/v1/submissions/" + rc.ReceiptID, key: key, status: http.StatusOK})
	if !strings.Contains(string(body), `"state":"processed"`) {
		t.Fatalf("status after recording: %s", body)
	}
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/submissions?limit=10", key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/submissions?limit=0", key: key,
		status: http.StatusBadRequest, code: schema.CodeInvalidField, rejected: true})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/submissions?cursor=xyz", key: key,
		status: http.StatusBadRequest, code: schema.CodeInvalidField})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/nope/submissions", key: key, status: http.StatusNotFound,
		code: schema.CodeNotFound})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/submissions?since=" + now.Add(-time.Hour).Format(time.RFC3339) +
		"&until=" + now.Add(time.Hour).Format(time.RFC3339), key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/submissions?since=yesterday", key: key,
		status: http.StatusBadRequest, code: schema.CodeInvalidField, rejected: true})

	// The dashboard's reads.
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/overview", key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/nope/overview", key: key, status: http.StatusNotFound, code: schema.CodeNotFound})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/hw1/dead-letters", key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/assignments/nope/dead-letters", key: key, status: http.StatusNotFound, code: schema.CodeNotFound})
	c.do(exchange{method: http.MethodGet, path: "/v1/submissions/" + rc.ReceiptID + "/timeline", key: key, status: http.StatusOK})
	c.do(exchange{method: http.MethodGet, path: "/v1/submissions/nope/timeline", key: key, status: http.StatusBadRequest, code: schema.CodeInvalidField})
	c.do(exchange{method: http.MethodGet, path: "/v1/submissions/" + rc.ReceiptID + "/timeline", status: http.StatusUnauthorized,
		code: schema.CodeUnauthenticated, rejected: true})
	_, body = c.do(exchange{method: http.MethodPost, path: "/v1/receipts/verify", key: key, status: http.StatusOK, body: jsonBody(t, rc.Receipt)})
	if !strings.Contains(string(body), `"valid":true`) {
		t.Errorf("verify the server's own receipt: %s", body)
	}
	c.do(exchange{method: http.MethodPost, path: "/v1/receipts/verify", key: key, status: http.StatusBadRequest,
		code: schema.CodeUnknownField, rejected: true, body: `{"receipt_id":"x","colour":"blue"}`})

	// Unavailability: 503 with Retry-After, the Error shape on the accept
	// path and the readiness report on /readyz.
	if h.kafka.Embedded == nil {
		t.Log("503 answers need the embedded broker: skipped")
		return
	}
	fh := h.kafka.Embedded.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
	c.do(exchange{method: http.MethodPost, path: "/v1/submissions", key: key, status: http.StatusServiceUnavailable,
		code: schema.CodeBrokerUnavailable, header: map[string]string{"Idempotency-Key": "attempt-5"}, body: jsonBody(t, sub)})
	fh.Remove()
	h.kafka.Embedded.Close()
	c.do(exchange{method: http.MethodGet, path: "/readyz", status: http.StatusServiceUnavailable})
}
