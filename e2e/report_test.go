package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/loadgen"
)

// row is one scenario's line in the suite's report.
type row struct {
	scenario   string
	rep        Report
	faultP99   time.Duration
	faultAcked int
	note       string
}

var (
	rowsMu sync.Mutex
	rows   []row
)

// writeReport writes the scenarios' table to .data/e2e/<broker>.md, for
// the release notes; the same lines are in each test's log.
func writeReport() {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].scenario < rows[j].scenario })
	broker := "embedded"
	if clusterSeeds() != nil {
		broker = "cluster"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# turnin e2e fault-injection suite: %s broker, %s\n\n", broker, time.Now().UTC().Format(time.RFC3339))
	b.WriteString("| scenario | sent | acknowledged | processed | dead-lettered | refused | indeterminate (landed) | lost | duplicated | phantoms | accept P99 during the fault (2xx answers) | notes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		p99 := "–"
		if r.faultAcked > 0 {
			p99 = fmt.Sprintf("%v (%d)", r.faultP99.Round(time.Millisecond), r.faultAcked)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d (%d) | %d | %d | %d | %s | %s |\n", r.scenario, r.rep.Sent, r.rep.Acknowledged,
			r.rep.Processed, r.rep.DeadLettered, r.rep.Refused, r.rep.Indeterminate, r.rep.IndeterminateLanded, r.rep.Lost,
			r.rep.Duplicated, r.rep.Phantoms, p99, r.note)
	}
	dir := filepath.Join(repoRoot, ".data", "e2e")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, broker+".md"), []byte(b.String()), 0o644)
	}
}

// verdict settles the scenario, checks every invariant and records its row.
// window bounds the fault: the accept P99 is over 2xx answers to attempts
// sent inside it.
func (s *stack) verdict(ctx context.Context, name string, fr floodResult, w *offsetWatch, window [2]time.Time, note string) Report {
	s.t.Helper()
	obs := s.settle(ctx, fr.ledger, 2*time.Minute)
	rep := Check(fr.ledger, obs)
	if w != nil {
		v, samples := w.finish()
		if samples == 0 {
			s.t.Error("the committed offsets were never sampled")
		}
		for _, m := range v {
			s.t.Errorf("invariant (offsets never move backwards): %s", m)
		}
	}
	var counted, rowsN int64
	var err error
	for range 50 {
		if err = s.db.QueryRow(ctx, `SELECT coalesce((SELECT submissions FROM assignment_counters WHERE tenant_id = $1 AND assignment_id = $2), 0),
		(SELECT count(*) FROM submissions WHERE tenant_id = $1 AND assignment_id = $2)`, e2eTenant, e2eAssignment).Scan(&counted, &rowsN); err == nil {
			break
		}
		if !backoff.Sleep(ctx, 200*time.Millisecond) {
			break
		}
	}
	if err != nil {
		s.t.Fatal(err)
	}
	if counted != rowsN {
		s.t.Errorf("invariant (counters count each submission once): the assignment counter says %d, the table has %d rows", counted, rowsN)
	}
	h := loadgen.NewHistogram()
	during := map[string]int{}
	for _, a := range fr.ledger.Attempts() {
		if a.Sent.Before(window[0]) || !a.Sent.Before(window[1]) {
			continue
		}
		switch {
		case a.acknowledged():
			h.Record(a.Answered.Sub(a.Sent))
			during["2xx"]++
		case a.Status == 0:
			during["no answer"]++
		default:
			during[fmt.Sprint(a.Status)]++
		}
	}
	if len(during) > 0 {
		note += fmt.Sprintf("; attempts sent during the fault: %v", during)
	}
	r := row{scenario: name, rep: rep, faultAcked: int(h.Count()), note: note}
	if h.Count() > 0 {
		r.faultP99 = h.Quantile(0.99)
	}
	s.t.Logf("%s: %s; accept P99 during the fault %v over %d answers; %s", name, rep, r.faultP99.Round(time.Millisecond), h.Count(), note)
	for _, v := range rep.Violations {
		s.t.Errorf("invariant: %s", v)
	}
	if rep.Acknowledged == 0 {
		s.t.Error("nothing was acknowledged: the scenario proved nothing")
	}
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	return rep
}
