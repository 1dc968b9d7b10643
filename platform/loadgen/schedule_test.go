package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestScheduleConstantRate(t *testing.T) {
	t.Parallel()
	s := newSchedule(Config{Rate: 1000, Duration: 2 * time.Second})
	for _, i := range []int{0, 1, 999, 1000, 1999} {
		off, ok := s.offset(i)
		if want := time.Duration(i) * time.Millisecond; !ok || off != want {
			t.Errorf("offset(%d) = %v, %v; want %v, true", i, off, ok, want)
		}
	}
	if _, ok := s.offset(2000); ok {
		t.Errorf("offset(2000) is scheduled, but it is due at the 2s bound")
	}
	if got := s.due(time.Hour); got != 2000 {
		t.Errorf("due(1h) = %d, want 2000 requests in 2s at 1000/s", got)
	}
	if s.end() != 2*time.Second {
		t.Errorf("end = %v, want 2s", s.end())
	}

	c := newSchedule(Config{Rate: 4, Count: 10})
	if c.end() != 2250*time.Millisecond || c.due(time.Hour) != 10 {
		t.Errorf("count-bounded: end %v due %d, want 2.25s and 10", c.end(), c.due(time.Hour))
	}
}

func TestScheduleRamp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		from, to     float64
		ramp, dur    time.Duration
		wantTotal    int
		wantFirstSec int
	}{
		// ∫₀¹ 200t dt = 100 in the ramp, then 200/s for 0.5s.
		{"up from zero", 0, 200, time.Second, 1500 * time.Millisecond, 200, 100},
		// 100 + ∫₀² 50t dt = 100·2 + 100 = 300 in the ramp, then 200 in 1s.
		{"up from 100", 100, 200, 2 * time.Second, 3 * time.Second, 500, 125},
		// Ramp down: (300+100)/2·1 = 200 in the ramp, then 100.
		{"down", 300, 100, time.Second, 2 * time.Second, 300, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchedule(Config{Rate: tc.to, RampFrom: tc.from, RampDuration: tc.ramp, Duration: tc.dur})
			total := s.due(tc.dur)
			if d := total - tc.wantTotal; d < -1 || d > 1 {
				t.Errorf("total scheduled = %d, want %d±1", total, tc.wantTotal)
			}
			if d := s.due(time.Second-1) - tc.wantFirstSec; d < -1 || d > 1 {
				t.Errorf("due in first second = %d, want %d±1", s.due(time.Second-1), tc.wantFirstSec)
			}
			prev := time.Duration(-1)
			for i := 0; i < total; i++ {
				off, ok := s.offset(i)
				if !ok || off < prev {
					t.Fatalf("offset(%d) = %v, %v after %v: not scheduled or not monotone", i, off, ok, prev)
				}
				prev = off
				// Request i is due when N(t) reaches i.
				if n := s.arrivals(off); math.Abs(n-float64(i)) > 1e-6*float64(i+1) {
					t.Fatalf("N(offset(%d)) = %v", i, n)
				}
				// due agrees exactly with offset.
				if s.due(off) < i+1 || (off > 0 && s.due(off-1) > i) {
					t.Fatalf("due(%v) = %d, due(%v) = %d around request %d", off, s.due(off), off-1, s.due(off-1), i)
				}
			}
			if got := s.rateAt(tc.ramp / 2); math.Abs(got-(tc.from+tc.to)/2) > 1e-9 {
				t.Errorf("rate mid-ramp = %v, want %v", got, (tc.from+tc.to)/2)
			}
			if got := s.rateAt(tc.ramp + time.Millisecond); got != tc.to {
				t.Errorf("rate after ramp = %v, want %v", got, tc.to)
			}
		})
	}
}
