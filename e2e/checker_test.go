package e2e

import (
	"strings"
	"testing"
	"time"
)

// The checker is what every scenario trusts, so it is tested on its own:
// each invariant it enforces must flag a picture that breaks it.
func TestCheckerFlagsEveryBrokenInvariant(t *testing.T) {
	ack := Attempt{Status: 202}
	unavailable := Attempt{Status: 503, Code: "broker_unavailable"}
	timeout := Attempt{Err: "timeout"}
	refused := Attempt{Status: 422, Code: "object_not_found"}
	ledger := func(subs map[string][]Attempt) *Ledger {
		l := NewLedger()
		for key, as := range subs {
			for _, a := range as {
				a.Sent = time.Now()
				l.Record(key, "rcpt_"+key, a)
			}
		}
		return l
	}
	cases := []struct {
		name  string
		subs  map[string][]Attempt
		obs   Observed
		want  string // "" means no violation
		count func(Report) int
	}{
		{"processed", map[string][]Attempt{"a": {ack}}, Observed{Rows: map[string]int{"rcpt_a": 1}, OnLog: map[string]int{"rcpt_a": 1}}, "", nil},
		{"dead-lettered", map[string][]Attempt{"a": {ack}}, Observed{DeadLettered: map[string]bool{"rcpt_a": true}, OnLog: map[string]int{"rcpt_a": 1}}, "", nil},
		{"retried after 503, then acknowledged", map[string][]Attempt{"a": {unavailable, ack}}, Observed{Rows: map[string]int{"rcpt_a": 1}, OnLog: map[string]int{"rcpt_a": 2}}, "", nil},
		{"lost", map[string][]Attempt{"a": {ack}}, Observed{OnLog: map[string]int{"rcpt_a": 1}}, "lost", func(r Report) int { return r.Lost }},
		{"not on the log", map[string][]Attempt{"a": {ack}}, Observed{Rows: map[string]int{"rcpt_a": 1}}, "not on the submissions topic", func(r Report) int { return r.NotOnLog }},
		{"duplicate rows", map[string][]Attempt{"a": {ack}}, Observed{Rows: map[string]int{"rcpt_a": 2}, OnLog: map[string]int{"rcpt_a": 1}}, "duplicate", func(r Report) int { return r.Duplicated }},
		{"processed and dead-lettered", map[string][]Attempt{"a": {ack}}, Observed{Rows: map[string]int{"rcpt_a": 1}, DeadLettered: map[string]bool{"rcpt_a": true}, OnLog: map[string]int{"rcpt_a": 1}}, "both processed and dead-lettered", func(r Report) int { return r.Duplicated }},
		{"phantom row", map[string][]Attempt{"a": {refused}}, Observed{Rows: map[string]int{"rcpt_a": 1}}, "phantom", func(r Report) int { return r.Phantoms }},
		{"phantom on the log", map[string][]Attempt{"a": {refused, refused}}, Observed{OnLog: map[string]int{"rcpt_a": 1}}, "phantom", func(r Report) int { return r.Phantoms }},
		{"refused after an indeterminate attempt may have landed", map[string][]Attempt{"a": {timeout, refused}}, Observed{Rows: map[string]int{"rcpt_a": 1}, OnLog: map[string]int{"rcpt_a": 1}}, "", nil},
		{"indeterminate landed once", map[string][]Attempt{"a": {timeout}}, Observed{Rows: map[string]int{"rcpt_a": 1}, OnLog: map[string]int{"rcpt_a": 1}}, "", nil},
		{"indeterminate landed twice", map[string][]Attempt{"a": {timeout, unavailable}}, Observed{Rows: map[string]int{"rcpt_a": 2}}, "duplicate", func(r Report) int { return r.Duplicated }},
		{"unknown row", map[string][]Attempt{}, Observed{Rows: map[string]int{"rcpt_x": 1}}, "unknown receipt", func(r Report) int { return r.Unknown }},
		{"unknown dead letter", map[string][]Attempt{}, Observed{DeadLettered: map[string]bool{"rcpt_x": true}}, "unknown receipt", func(r Report) int { return r.Unknown }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(ledger(c.subs), c.obs)
			if c.want == "" {
				if !r.OK() {
					t.Fatalf("unexpected violations: %v", r.Violations)
				}
				return
			}
			if r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), c.want) {
				t.Fatalf("want a %q violation, got %v (%s)", c.want, r.Violations, r)
			}
			if c.count(r) != 1 {
				t.Fatalf("the count for %q is %d, want 1 (%s)", c.want, c.count(r), r)
			}
		})
	}
}

func TestClassOfAttempts(t *testing.T) {
	for _, c := range []struct {
		as   []Attempt
		want Class
	}{
		{[]Attempt{{Status: 202}}, Acknowledged},
		{[]Attempt{{Status: 503}, {Status: 202}}, Acknowledged},
		{[]Attempt{{Status: 200}}, Acknowledged},
		{[]Attempt{{Status: 400}}, Refused},
		{[]Attempt{{Status: 409}, {Status: 422}}, Refused},
		{[]Attempt{{Status: 503}}, Indeterminate},
		{[]Attempt{{Err: "connection refused"}}, Indeterminate},
		{[]Attempt{{Status: 0}, {Status: 422}}, Indeterminate},
		{nil, Indeterminate},
	} {
		s := &Submission{Attempts: c.as}
		if got := s.Class(); got != c.want {
			t.Errorf("%+v: %v, want %v", c.as, got, c.want)
		}
	}
}
