package schema

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document (YAML) of turnin's HTTP API: every
// endpoint, request body, response body, header and error code an LMS
// integrator relies on. It is the source of truth for the HTTP contract; the
// api module's contract test checks that the real server registers exactly
// these routes and answers with bodies that validate against it. Operations
// marked "x-turnin-status: planned" are specified ahead of their
// implementation.
//
//go:embed openapi.yaml
var OpenAPI []byte
