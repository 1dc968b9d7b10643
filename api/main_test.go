package api_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/turnin-dev/turnin/platform/testenv"
)

// TestMain fails the package if any goroutine outlives the tests. The
// embedded S3 gateway lives as long as the test binary, so it starts
// before the snapshot of goroutines to ignore; the tests' keep-alive
// connections through the default transport are closed before the check.
func TestMain(m *testing.M) {
	if err := testenv.StartObjectStore(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).getCh.func1"),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).workerFunc"),
	}
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
