package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/turnin-dev/turnin/platform/loadgen"
)

// A benchmark posts to an HTTP endpoint at 500 requests per second and
// reads the outcome counts and the latency percentiles from the Result.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	client := srv.Client()

	op := func(ctx context.Context, seq int) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/submissions?seq="+strconv.Itoa(seq), nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err // labelled "timeout", "canceled" or "error"
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status := strconv.Itoa(resp.StatusCode)
		if resp.StatusCode != http.StatusAccepted {
			return status, errors.New("not accepted") // counted under its status, as an error
		}
		return status, nil
	}

	res, err := loadgen.Run(context.Background(), loadgen.Config{Rate: 500, Count: 50}, op)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("scheduled", res.Scheduled, "ok", res.OK, "dropped", res.Dropped)
	fmt.Println("accepted", res.ByOutcome["202"])
	p := res.LatencyByOutcome["202"].Quantiles(0.5, 0.99)
	fmt.Println("p50 ≤ p99:", p[0] <= p[1])
	// res.Summary() renders the whole report.

	// Output:
	// scheduled 50 ok 50 dropped 0
	// accepted 50
	// p50 ≤ p99: true
}
