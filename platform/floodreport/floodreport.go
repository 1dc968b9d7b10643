// Package floodreport turns measured deadline floods into a report a person
// would rather look at than read: report.md with the essay's comparison
// table rewritten with measured figures, SVG plots of every time series,
// and the raw series as JSON and CSV so the plots can be redrawn.
//
// A Report holds one Path per system driven by the same flood profile
// (turnin's queue path, the synchronous baseline, the bare handler). Each
// Path carries two time series: Seconds, one row per second of scheduled
// arrivals (what the load generator saw), and Samples, what the system
// said while the flood ran and drained (accepted so far, processed,
// retrying, dead-lettered, memory). The figures (Summary) are derived from
// them, so the table and the plots cannot disagree.
package floodreport

import (
	"fmt"
	"math"
	"time"
)

// Second is one second of scheduled arrivals.
type Second struct {
	// T is the second's start, in seconds from the start of the flood.
	T float64 `json:"t"`
	// Offered counts arrivals scheduled in this second.
	Offered int `json:"offered"`
	// Accepted and Failed count those that ended accepted or failed (after
	// every retry); Dropped those never sent.
	Accepted int `json:"accepted"`
	Failed   int `json:"failed"`
	Dropped  int `json:"dropped"`
	// Retries counts submit attempts answered 503/429 or lost to a timeout
	// or network error in this wall-clock second, each retried with the
	// same key.
	Retries int `json:"retries"`
	// P50, P99 and P999 are the latencies, in milliseconds, from each
	// arrival's scheduled time to its end (upload, submit and retries),
	// of the arrivals scheduled in this second.
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
}

// Sample is what the system said at one moment.
type Sample struct {
	// T is the moment, in seconds from the start of the flood.
	T float64 `json:"t"`
	// Accepted counts submissions answered 202 (or 200) so far.
	Accepted int64 `json:"accepted"`
	// Processed, Retrying and DeadLettered are the assignment's counts in
	// the database; -1 when the path has none (the bare handler).
	Processed    int64 `json:"processed"`
	Retrying     int64 `json:"retrying"`
	DeadLettered int64 `json:"dead_lettered"`
	// RSSMiB is the API's resident memory in MiB, 0 when unknown.
	RSSMiB float64 `json:"rss_mib"`
}

// Backlog is accepted but not yet processed, retrying or dead-lettered.
// It is never negative: the synchronous path writes a row before its
// answer reaches the client, so for a moment the database is ahead.
func (s Sample) Backlog() int64 { return max(0, s.Accepted-s.Processed-s.Retrying-s.DeadLettered) }

// Path is one system under the flood.
type Path struct {
	// Name is short ("queue", "sync", "bare"); Title is what the table
	// calls it; About says what the path does, in a sentence.
	Name  string `json:"name"`
	Title string `json:"title"`
	About string `json:"about"`
	// Target is the URL the flood was sent to.
	Target string `json:"target"`
	// HasBackend is false for the bare handler: nothing is written to a
	// database, so there is nothing to drain, lose or duplicate.
	HasBackend bool `json:"has_backend"`

	Scheduled int            `json:"scheduled"`
	Accepted  int            `json:"accepted"`
	Failed    int            `json:"failed"`
	Dropped   int            `json:"dropped"`
	Retries   int64          `json:"retries"`
	Outcomes  map[string]int `json:"outcomes"`
	// P50, P99, P999 and Max are the latencies (ms, from scheduled time to
	// 202, over the accepted arrivals of the whole flood).
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
	// SubmitP99 is the P99 of single POST /v1/submissions attempts (ms,
	// from the send), the server's share of the latency.
	SubmitP99 float64 `json:"submit_p99_ms"`
	// Elapsed is the time from the first arrival to the last answer, in
	// seconds; LastAcceptAt is when the last 202 arrived.
	Elapsed      float64 `json:"elapsed_s"`
	LastAcceptAt float64 `json:"last_accept_at_s"`
	// DrainedAt is when the backlog reached zero after the last accept, in
	// seconds from the start; -1 when it did not within the wait.
	DrainedAt float64 `json:"drained_at_s"`
	// Lost counts 202 receipts found nowhere after the drain (not
	// processed, retrying or dead-lettered); LostHow says how they were
	// checked. Duplicates counts rows beyond one per idempotency key; -1
	// when it could not be checked. Audit is `turnin audit`'s verdict
	// on the window, when it ran.
	Lost       int    `json:"lost"`
	LostHow    string `json:"lost_how"`
	Duplicates int    `json:"duplicates"`
	Audit      string `json:"audit,omitempty"`

	Seconds []Second `json:"seconds"`
	Samples []Sample `json:"samples"`
}

// Drain is the time from the last accept to an empty backlog, in seconds;
// -1 when it never emptied.
func (p *Path) Drain() float64 {
	if p.DrainedAt < 0 {
		return -1
	}
	return max(0, p.DrainedAt-p.LastAcceptAt)
}

// PeakAcceptRate is the most 202s in one second of wall-clock time, from
// the samples (the generator's seconds count arrivals by schedule).
func (p *Path) PeakAcceptRate() float64 {
	return peakRate(p.Samples, func(s Sample) int64 { return s.Accepted })
}

// PeakWriteRate is the most rows the database took in one second.
func (p *Path) PeakWriteRate() float64 {
	if !p.HasBackend {
		return 0
	}
	return peakRate(p.Samples, func(s Sample) int64 { return s.Processed + s.DeadLettered + s.Retrying })
}

// PeakBacklog is the largest backlog seen.
func (p *Path) PeakBacklog() int64 {
	var m int64
	for _, s := range p.Samples {
		if p.HasBackend {
			m = max(m, s.Backlog())
		}
	}
	return m
}

// PeakRSS is the largest resident memory seen, MiB.
func (p *Path) PeakRSS() float64 {
	var m float64
	for _, s := range p.Samples {
		m = max(m, s.RSSMiB)
	}
	return m
}

// Final is the last sample, zero when there is none.
func (p *Path) Final() Sample {
	if len(p.Samples) == 0 {
		return Sample{}
	}
	return p.Samples[len(p.Samples)-1]
}

// PeakOffered is the largest number of arrivals scheduled in one second.
func (p *Path) PeakOffered() int {
	m := 0
	for _, s := range p.Seconds {
		m = max(m, s.Offered)
	}
	return m
}

// P99AtPeak is the worst per-second P99 over the seconds whose offered
// rate is at least 90 % of the peak: the latency "at peak" of the essay.
func (p *Path) P99AtPeak() float64 {
	peak, m := p.PeakOffered(), 0.0
	for _, s := range p.Seconds {
		if float64(s.Offered) >= 0.9*float64(peak) {
			m = max(m, s.P99)
		}
	}
	return m
}

// peakRate is the largest rate of f over any window of about a second,
// so a 250 ms sampling jitter does not make a spike out of nothing.
func peakRate(ss []Sample, f func(Sample) int64) float64 {
	var m float64
	j := 0
	for i := range ss {
		for j < i && ss[i].T-ss[j+1].T >= 1 {
			j++
		}
		if dt := ss[i].T - ss[j].T; dt >= 0.999 {
			m = max(m, float64(f(ss[i])-f(ss[j]))/dt)
		}
	}
	return m
}

// Machine describes where the flood ran.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	OS        string  `json:"os"`
	Go        string  `json:"go"`
}

// Setting is one named setting the report lists.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Report is one flood against one or more paths.
type Report struct {
	Title    string    `json:"title"`
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Versions []Setting `json:"versions"`
	Settings []Setting `json:"settings"`
	// Command is the command line that reproduces the flood.
	Command string `json:"command"`
	// Notes are paragraphs appended under the table, as given.
	Notes []string `json:"notes,omitempty"`
	Paths []*Path  `json:"paths"`
}

// path returns the path named name, or nil.
func (r *Report) path(name string) *Path {
	for _, p := range r.Paths {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ms prints a latency in milliseconds with sensible precision.
func ms(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v):
		return "–"
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}
