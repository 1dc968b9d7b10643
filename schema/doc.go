// Package schema holds turnin's contracts: the submission event and its JSON
// Schema, topic and header names, the dead-letter header contract, the error
// codes every surface reports, receipts, the SQL migrations and the OpenAPI
// document. It imports only the standard library so that every other module —
// the API, the consumers, the dead-letter tools — shares one definition of each.
//
// Wire formats are pinned by golden files under testdata/: changing a field
// name or encoding is a visible, reviewed change, never an accident.
package schema
