package loadgen

import (
	"math"
	"time"
)

// schedule is the open-loop arrival schedule: the offset from the start of
// the run at which each request is due. The arrival rate is r(t) = from +
// (rate-from)·t/ramp during the ramp and rate after it, so the number of
// arrivals due by t is N(t) = ∫r, and request i is due at N⁻¹(i).
type schedule struct {
	rate, from float64 // requests per second
	ramp       float64 // seconds; 0 means no ramp
	rampN      float64 // N(ramp), the arrivals during the ramp
	count      int     // 0 means unbounded
	dur        time.Duration
}

func newSchedule(c Config) schedule {
	s := schedule{rate: c.Rate, count: c.Count, dur: c.Duration}
	if c.RampDuration > 0 {
		s.from = c.RampFrom
		s.ramp = c.RampDuration.Seconds()
		s.rampN = (s.from + s.rate) * s.ramp / 2
	}
	return s
}

// at returns the offset at which request i is due, ignoring the bounds.
// It is non-decreasing in i.
func (s schedule) at(i int) time.Duration {
	x := float64(i)
	var t float64
	if x < s.rampN {
		// Solve from·t + k·t²/2 = x for t, with k = (rate-from)/ramp, in the
		// form that stays accurate when k is small or negative.
		k := (s.rate - s.from) / s.ramp
		if x > 0 {
			t = 2 * x / (s.from + math.Sqrt(max(s.from*s.from+2*k*x, 0)))
		}
		t = min(t, s.ramp)
	} else {
		t = s.ramp + (x-s.rampN)/s.rate
	}
	if ns := t * 1e9; ns < math.MaxInt64/2 {
		return time.Duration(math.Round(ns))
	}
	return math.MaxInt64 / 2
}

// offset returns the offset at which request i is due and whether request
// i is scheduled at all.
func (s schedule) offset(i int) (time.Duration, bool) {
	if s.count > 0 && i >= s.count {
		return 0, false
	}
	t := s.at(i)
	if s.dur > 0 && t >= s.dur {
		return 0, false
	}
	return t, true
}

// arrivals returns N(t), the (fractional) number of arrivals due by t.
func (s schedule) arrivals(t time.Duration) float64 {
	x := t.Seconds()
	if x < s.ramp {
		return s.from*x + (s.rate-s.from)*x*x/(2*s.ramp)
	}
	return s.rampN + s.rate*(x-s.ramp)
}

// due returns how many scheduled requests are due at or before t: the
// requests 0..due(t)-1. It agrees exactly with offset.
func (s schedule) due(t time.Duration) int {
	if t < 0 {
		return 0
	}
	if s.dur > 0 {
		t = min(t, s.dur)
	}
	guess := math.Floor(s.arrivals(t)) + 1
	if s.count > 0 {
		guess = min(guess, float64(s.count))
	}
	k := int(min(max(guess, 0), math.MaxInt32*1024))
	for k > 0 {
		if off, ok := s.offset(k - 1); ok && off <= t {
			break
		}
		k--
	}
	for {
		off, ok := s.offset(k)
		if !ok || off > t {
			return k
		}
		k++
	}
}

// end returns the offset of the end of the schedule: the last request's
// due time, or Duration when that comes first.
func (s schedule) end() time.Duration {
	if s.count == 0 {
		return s.dur
	}
	t := s.at(s.count - 1)
	if s.dur > 0 && t >= s.dur {
		return s.dur
	}
	return t
}

// rateAt returns the arrival rate the schedule calls for at t.
func (s schedule) rateAt(t time.Duration) float64 {
	if x := t.Seconds(); x < s.ramp {
		return s.from + (s.rate-s.from)*x/s.ramp
	}
	return s.rate
}
