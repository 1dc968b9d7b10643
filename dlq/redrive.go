package dlq

import "github.com/turnin-dev/turnin/platform/redrive"

// The redrive lives in platform/redrive so that the API's dashboard runs
// the very same code as `turnin dlq redrive`; these names keep the dlq
// surface as it was.

// HeaderRedriveID marks a record written by a redrive.
const HeaderRedriveID = redrive.HeaderRedriveID

// Redrive targets.
const (
	TargetMain  = redrive.TargetMain
	TargetRetry = redrive.TargetRetry
)

// RedriveConfig is one redrive.
type RedriveConfig = redrive.Config

// RedriveResult says what a redrive did (or, dry, would do).
type RedriveResult = redrive.Result

// Redrive writes the selected dead letters back into processing; see redrive.Run.
var Redrive = redrive.Run
