package schema

import _ "embed"

// SubmissionJSONSchema is the JSON Schema (draft 2020-12) of the v1 event.
//
//go:embed jsonschema/submission.v1.schema.json
var SubmissionJSONSchema []byte
