package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/testenv"
)

// TestLoadtestSmall runs the load generator, as a user would, against a
// real turnin dev for a few seconds at a low rate: every arrival uploads,
// submits and is accepted, and the report says so. Timings are not asserted.
func TestLoadtestSmall(t *testing.T) {
	_, dbURL := testenv.Postgres(t)
	d, stop := startDev(t, devConfig(t, t.TempDir(), dbURL))
	defer stop()
	var out bytes.Buffer
	err := runLoadtest(testenv.Ctx(t, 2*time.Minute), []string{
		"--url", d.URL, "--api-key", d.APIKey, "--total", "60", "--peak", "40", "--start-rate", "10", "--ramp", "1s",
		"--students", "25", "--file-size", "256", "--max-outstanding", "16",
	}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log(report)
	for _, want := range []string{"60 submissions", "accepted", "POST /v1/submissions, each attempt: 60 attempts", "retries (503/429/network, same key): 0"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	testenv.WaitCount(t, d.DB, `SELECT count(*) FROM submissions WHERE assignment_id = 'loadtest'`, 60)
}
