package consumer

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/turnin-dev/turnin/platform/testenv"
)

// TestMain fails the package if any goroutine outlives the tests: a
// consumer whose Run did not return, a client left open. The embedded S3
// gateway lives as long as the test binary, so it starts before the
// snapshot of goroutines to ignore; its per-connection workers come and go.
func TestMain(m *testing.M) {
	if err := testenv.StartObjectStore(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).getCh.func1"),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).workerFunc"),
	)
}
