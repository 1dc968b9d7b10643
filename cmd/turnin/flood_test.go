package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/floodreport"
	"github.com/turnin-dev/turnin/platform/testenv"
)

// TestFloodReport runs `turnin flood` as a user would, small and slow (200
// submissions at up to 100/s against each of the three paths), and reads
// the report it wrote: every file is there, the Markdown has its
// sections, the SVGs are XML, and the numbers agree with one another:
// after the drain, accepted = processed + retrying + dead-lettered, nothing
// is lost, nothing duplicated, and the audit finds nothing gone. Timings
// are not asserted.
func TestFloodReport(t *testing.T) {
	_, dbURL := testenv.Postgres(t)
	// A relative --report, as `make flood` passes it, is relative to where
	// the command started, whatever the embedded parts do to the working
	// directory.
	t.Chdir(t.TempDir())
	dir, _ := filepath.Abs("report")
	var out bytes.Buffer
	err := runFlood(testenv.Ctx(t, 4*time.Minute), []string{
		"--report", "report", "--database-url", dbURL, "--log-level", "warn",
		"--total", "200", "--peak", "100", "--start-rate", "50", "--ramp", "1s", "--students", "50", "--file-size", "256",
		"--max-outstanding", "32", "--sample-every", "100ms", "--drain-timeout", "1m",
	}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())

	for _, name := range []string{floodreport.MarkdownFile, floodreport.SeriesFile, "latency-p99.svg", "latency-queue.svg",
		"latency-sync.svg", "latency-bare.svg", "accepted.svg", "errors-retries.svg", "db-writes.svg", "backlog.svg",
		"memory.svg", "queue-seconds.csv", "queue-samples.csv", "sync-samples.csv", "bare-seconds.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("report lacks %s: %v", name, err)
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	for _, name := range svgs {
		b, _ := os.ReadFile(name)
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			if _, err := d.Token(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s is not XML: %v", name, err)
				break
			}
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, floodreport.MarkdownFile))
	for _, want := range []string{"## Where it ran", "## The essay's table, measured", "## Plots", "## Raw series",
		"| Property | Bare handler | Queue-based pipeline (turnin) | Synchronous write |",
		"Accept latency P50 / P99 / P99.9", "What the DB sees", "Lost submissions", "against bare", "(latency-p99.svg)",
		"`turnin audit` over the Queue-based pipeline (turnin) flood's window", "0 gone.", "1-minute load average"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	var rep floodreport.Report
	b, _ := os.ReadFile(filepath.Join(dir, floodreport.SeriesFile))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Paths) != 3 || rep.Machine.Cores == 0 || rep.Machine.Go == "" {
		t.Fatalf("%d paths, machine %+v", len(rep.Paths), rep.Machine)
	}
	for _, p := range rep.Paths {
		if p.Scheduled != 200 || p.Accepted != 200 || p.Failed != 0 || p.Dropped != 0 {
			t.Errorf("%s: scheduled %d accepted %d failed %d dropped %d; want all 200 accepted at this rate",
				p.Name, p.Scheduled, p.Accepted, p.Failed, p.Dropped)
		}
		offered := 0
		for _, s := range p.Seconds {
			offered += s.Offered
		}
		if offered != p.Scheduled || p.P50 <= 0 || p.P50 > p.P99 || p.P99 > p.P999 {
			t.Errorf("%s: per-second offered %d of %d; quantiles %v %v %v", p.Name, offered, p.Scheduled, p.P50, p.P99, p.P999)
		}
		if !p.HasBackend {
			continue
		}
		last := p.Samples[len(p.Samples)-1]
		if last.Accepted != int64(p.Accepted) || last.Processed+last.Retrying+last.DeadLettered != last.Accepted {
			t.Errorf("%s after the drain: %+v; want accepted %d = processed + retrying + dead-lettered", p.Name, last, p.Accepted)
		}
		if p.Lost != 0 || p.Duplicates != 0 || p.DrainedAt < 0 {
			t.Errorf("%s: lost %d, duplicates %d, drained at %v", p.Name, p.Lost, p.Duplicates, p.DrainedAt)
		}
	}
}
