package schema

import (
	"testing"
	"time"
)

func TestLateness(t *testing.T) {
	due := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	cut := due.Add(time.Hour)
	a := &Assignment{DueAt: due, CutoffAt: &cut, Extensions: map[string]time.Time{"ext": due.Add(48 * time.Hour)}}
	cases := []struct {
		student string
		at      time.Time
		late    bool
		secs    int64
		closed  bool
	}{
		{"s", due.Add(-time.Second), false, 0, false},
		{"s", due, false, 0, false},
		{"s", due.Add(time.Nanosecond), true, 1, false},
		{"s", due.Add(90 * time.Second), true, 90, false},
		{"s", cut, true, 3600, false},
		{"s", cut.Add(time.Second), true, 3601, true},
		{"ext", cut.Add(time.Second), false, 0, false}, // the extension moves both
		{"ext", due.Add(48*time.Hour + time.Second), true, 1, true},
	}
	for _, c := range cases {
		late, secs := a.Lateness(c.student, c.at)
		if late != c.late || secs != c.secs {
			t.Errorf("%s at %v: late=%v secs=%d, want %v %d", c.student, c.at, late, secs, c.late, c.secs)
		}
		if got := a.Closed(c.student, c.at); got != c.closed {
			t.Errorf("%s at %v: closed=%v, want %v", c.student, c.at, got, c.closed)
		}
	}
	noCut := &Assignment{DueAt: due}
	if noCut.Closed("s", due.Add(1000*time.Hour)) {
		t.Error("an assignment without a cut-off closed")
	}
}
