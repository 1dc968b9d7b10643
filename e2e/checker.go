package e2e

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Class is how a client's requests for one submission ended, from the
// client's side only.
type Class int

const (
	// Acknowledged: some attempt was answered 202 (or 200): turnin promised
	// to keep it.
	Acknowledged Class = iota
	// Refused: every attempt was answered 4xx: turnin said no, definitively.
	Refused
	// Indeterminate: no 2xx, and some attempt ended in a 5xx, a timeout
	// or a broken connection: the client cannot know whether it landed.
	Indeterminate
)

func (c Class) String() string {
	switch c {
	case Acknowledged:
		return "acknowledged"
	case Refused:
		return "refused"
	case Indeterminate:
		return "indeterminate"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Attempt is one HTTP request and its answer. Status is 0 when no answer
// came (timeout, connection refused or reset).
type Attempt struct {
	Sent, Answered time.Time
	Status         int
	Code           string
	Err            string
}

func (a Attempt) acknowledged() bool { return a.Status == 200 || a.Status == 202 }
func (a Attempt) refused() bool      { return a.Status >= 400 && a.Status < 500 }

// Submission is everything one client tried for one idempotency key.
type Submission struct {
	Key, ReceiptID string
	Attempts       []Attempt
}

// Class classifies the submission from its attempts.
func (s *Submission) Class() Class {
	refused := len(s.Attempts) > 0
	for _, a := range s.Attempts {
		if a.acknowledged() {
			return Acknowledged
		}
		refused = refused && a.refused()
	}
	if refused {
		return Refused
	}
	return Indeterminate
}

// Ledger records what turnin told every client. It is safe for concurrent use.
type Ledger struct {
	mu   sync.Mutex
	subs map[string]*Submission
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{subs: map[string]*Submission{}} }

// Record adds one attempt for the submission with this idempotency key.
func (l *Ledger) Record(key, receiptID string, a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[key]
	if s == nil {
		s = &Submission{Key: key, ReceiptID: receiptID}
		l.subs[key] = s
	}
	s.Attempts = append(s.Attempts, a)
}

// Count returns how many submissions are of class c.
func (l *Ledger) Count(c Class) int {
	n := 0
	for _, s := range l.Submissions() {
		if s.Class() == c {
			n++
		}
	}
	return n
}

// Merge adds every attempt recorded in o.
func (l *Ledger) Merge(o *Ledger) {
	for _, s := range o.Submissions() {
		for _, a := range s.Attempts {
			l.Record(s.Key, s.ReceiptID, a)
		}
	}
}

// Submissions returns the recorded submissions, sorted by key.
func (l *Ledger) Submissions() []*Submission {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Submission, 0, len(l.subs))
	for _, s := range l.subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Attempts returns every attempt of every submission.
func (l *Ledger) Attempts() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Attempt
	for _, s := range l.subs {
		out = append(out, s.Attempts...)
	}
	return out
}

// Observed is where submissions ended, read after the drain: per receipt
// id, the rows in the submissions table, whether the dead-letter index
// holds it as dead-lettered, and how many records for it are on the
// submissions topic.
type Observed struct {
	Rows         map[string]int
	DeadLettered map[string]bool
	OnLog        map[string]int
}

// Report is the checker's verdict on one scenario.
type Report struct {
	Sent, Acknowledged, Refused, Indeterminate int
	Processed, DeadLettered                    int
	// The invariants' counts: each must be 0.
	Lost, Duplicated, Phantoms, NotOnLog, Unknown int
	// IndeterminateLanded counts indeterminate requests that did land
	// (allowed: 0 or 1 row each).
	IndeterminateLanded int
	Violations          []string
}

// OK reports whether no invariant was broken.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

const maxViolations = 20

func (r *Report) violate(format string, args ...any) {
	if len(r.Violations) < maxViolations {
		r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
	} else if len(r.Violations) == maxViolations {
		r.Violations = append(r.Violations, "… more violations left out")
	}
}

// Check applies the invariants (DESIGN.md 1–5) to what clients were told
// and what was observed:
//
//   - every acknowledged submission is on the log and ends in exactly one
//     processed row or one dead-letter entry, not both (none lost);
//   - no receipt has more than one row (no duplicates);
//   - a definitively refused request left no row, no dead letter and no
//     record on the log (no phantoms);
//   - an indeterminate request yields zero or one row, never two;
//   - nothing exists for a receipt no client asked for.
func Check(l *Ledger, o Observed) Report {
	var r Report
	known := map[string]bool{}
	for _, s := range l.Submissions() {
		r.Sent++
		known[s.ReceiptID] = true
		rows, dead, onLog := o.Rows[s.ReceiptID], o.DeadLettered[s.ReceiptID], o.OnLog[s.ReceiptID]
		if rows > 1 {
			r.Duplicated++
			r.violate("duplicate: %s (key %s) has %d rows", s.ReceiptID, s.Key, rows)
		}
		switch s.Class() {
		case Acknowledged:
			r.Acknowledged++
			switch {
			case rows >= 1 && dead:
				r.Duplicated++
				r.violate("acknowledged %s (key %s) is both processed and dead-lettered", s.ReceiptID, s.Key)
			case rows >= 1:
				r.Processed++
			case dead:
				r.DeadLettered++
			default:
				r.Lost++
				r.violate("lost: %s (key %s) was acknowledged but has no row and no dead-letter entry", s.ReceiptID, s.Key)
			}
			if onLog == 0 {
				r.NotOnLog++
				r.violate("acknowledged %s (key %s) is not on the submissions topic", s.ReceiptID, s.Key)
			}
		case Refused:
			r.Refused++
			if rows > 0 || dead || onLog > 0 {
				r.Phantoms++
				r.violate("phantom: refused %s (key %s) has %d rows, dead-lettered %v, %d records on the log", s.ReceiptID, s.Key, rows, dead, onLog)
			}
		case Indeterminate:
			r.Indeterminate++
			if rows > 0 || dead {
				r.IndeterminateLanded++
			}
		}
	}
	for _, m := range []map[string]int{o.Rows, o.OnLog} {
		for id, n := range m {
			if n > 0 && !known[id] {
				r.Unknown++
				r.violate("unknown receipt %s: found in turnin but no client sent it", id)
			}
		}
	}
	for id, dead := range o.DeadLettered {
		if dead && !known[id] {
			r.Unknown++
			r.violate("unknown receipt %s: dead-lettered but no client sent it", id)
		}
	}
	return r
}

// String is the report as one line.
func (r Report) String() string {
	return fmt.Sprintf("sent %d: acknowledged %d (processed %d, dead-lettered %d), refused %d, indeterminate %d (%d landed); lost %d, duplicated %d, phantoms %d, not on log %d, unknown %d",
		r.Sent, r.Acknowledged, r.Processed, r.DeadLettered, r.Refused, r.Indeterminate, r.IndeterminateLanded,
		r.Lost, r.Duplicated, r.Phantoms, r.NotOnLog, r.Unknown)
}
