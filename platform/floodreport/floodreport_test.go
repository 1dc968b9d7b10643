package floodreport

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	queue := &Path{Name: "queue", Title: "Queue", About: "turnin", Target: "http://q", HasBackend: true,
		Scheduled: 300, Accepted: 300, P50: 2, P99: 9, P999: 12, Elapsed: 3, LastAcceptAt: 3, DrainedAt: 4.5, LostHow: "database",
		Outcomes: map[string]int{"accepted": 300}}
	bare := &Path{Name: "bare", Title: "Bare", About: "baseline", Target: "http://b",
		Scheduled: 300, Accepted: 300, P50: 1, P99: 3, P999: 4, Elapsed: 3, LastAcceptAt: 3, DrainedAt: -1, Duplicates: -1,
		Outcomes: map[string]int{"accepted": 300}}
	for k := 0; k < 3; k++ {
		s := Second{T: float64(k), Offered: 100, Accepted: 100, P50: 2, P99: 9, P999: 12}
		queue.Seconds = append(queue.Seconds, s)
		bare.Seconds = append(bare.Seconds, s)
	}
	for i := 0; i <= 10; i++ {
		t := float64(i) * 0.5
		acc := min(int64(i*50), 300)
		queue.Samples = append(queue.Samples, Sample{T: t, Accepted: acc, Processed: max(0, acc-40), RSSMiB: 80})
		bare.Samples = append(bare.Samples, Sample{T: t, Accepted: acc, Processed: -1, Retrying: -1, DeadLettered: -1})
	}
	queue.Samples = append(queue.Samples, Sample{T: 5.5, Accepted: 300, Processed: 300, RSSMiB: 81})
	return &Report{Title: "Flood", Started: time.Unix(0, 0), Command: "turnin flood",
		Machine:  Machine{CPU: "cpu", Cores: 2, MemoryGiB: 4, OS: "linux", Go: "go1"},
		Settings: []Setting{{"profile", "300 at 100/s"}}, Paths: []*Path{queue, bare}}
}

// TestWriteReport writes a small report and reads it back: every file is
// there, every SVG is XML with a title, and the table's derived figures
// follow from the series.
func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	files, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{MarkdownFile, SeriesFile, "queue-seconds.csv", "queue-samples.csv", "bare-seconds.csv",
		"latency-p99.svg", "latency-queue.svg", "latency-bare.svg", "accepted.svg", "errors-retries.svg",
		"db-writes.svg", "backlog.svg", "memory.svg"}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v (wrote %v)", name, err, files)
		}
	}
	for _, name := range files {
		if !strings.HasSuffix(name, ".svg") {
			continue
		}
		fh, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(fh)
		for {
			if _, err := d.Token(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s is not XML: %v", name, err)
				break
			}
		}
		_ = fh.Close()
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	for _, s := range []string{"## Where it ran", "## The essay's table, measured", "## Plots", "| Property | Queue | Bare |",
		"300 (100.0 %)", "2.0 ms / 9.0 ms / 12 ms", "/ 1.5 s |", "n/a (no database)", "![", "(latency-p99.svg)", "3.0×"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q:\n%s", s, md)
		}
	}
	q := r.Paths[0]
	if q.Drain() != 1.5 || q.PeakBacklog() != 40 || q.PeakRSS() != 81 {
		t.Errorf("drain %v, peak backlog %v, peak RSS %v; want 1.5, 40, 81", q.Drain(), q.PeakBacklog(), q.PeakRSS())
	}
	if got := q.PeakAcceptRate(); got != 100 {
		t.Errorf("peak accept rate %v, want 100/s", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 40000: "40,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
