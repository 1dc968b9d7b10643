package loadgen

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"
)

// Histogram layout: values are nanoseconds. Values below 2^subBits are
// counted exactly; above, each power of two [2^e, 2^(e+1)) is split into
// 2^subBits equal buckets, so a bucket is never wider than 1/128 of its lower
// bound and its midpoint is within 1/256 of any value in it.
const (
	subBits  = 7
	subCount = 1 << subBits
	// octaves is the number of bucket groups: group 0 holds [0, 128) exactly,
	// group k ≥ 1 holds [2^(k+6), 2^(k+7)).
	octaves = 37
)

// MaxTrackable is the largest latency a Histogram resolves (about 2h26m).
// Larger values are counted in the top bucket; Max still reports them exactly.
const MaxTrackable = time.Duration(1<<(subBits+octaves-1) - 1)

// RelativePrecision bounds the relative error of Histogram.Quantile: the
// value returned is within RelativePrecision of the exact quantile of the
// recorded values (for values up to MaxTrackable).
const RelativePrecision = 1.0 / (2 * subCount)

// Histogram is a log-linear latency histogram in the style of HdrHistogram:
// constant relative precision (see RelativePrecision) from 1ns to
// MaxTrackable in about 37 KiB, allocated lazily one power of two at a time.
//
// All methods are safe for concurrent use; Record is lock-free. Reads made
// while other goroutines record see some consistent-enough prefix of the
// records (each count is exact once recording stops).
//
// The zero value is an empty histogram ready to use. A Histogram must not be
// copied after first use.
type Histogram struct {
	groups [octaves]atomic.Pointer[[subCount]atomic.Uint64]
	n      atomic.Uint64
	sum    atomic.Uint64
	// minInv is math.MaxInt64 minus the minimum, so that the zero value
	// means "no minimum yet" and the update is a max like the one for max.
	minInv atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty Histogram. It is the same as new(Histogram).
func NewHistogram() *Histogram { return new(Histogram) }

// bucketOf returns the group and sub-bucket holding v (v ≥ 0).
func bucketOf(v int64) (group, sub int) {
	if v < subCount {
		return 0, int(v)
	}
	if v > int64(MaxTrackable) {
		v = int64(MaxTrackable)
	}
	shift := bits.Len64(uint64(v)) - 1 - subBits
	return shift + 1, int(v>>uint(shift)) - subCount
}

// bucketBounds returns the lowest value of a bucket and its width.
func bucketBounds(group, sub int) (low, width int64) {
	if group == 0 {
		return int64(sub), 1
	}
	shift := uint(group - 1)
	return int64(subCount+sub) << shift, 1 << shift
}

// Record adds one observation. Negative durations are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	g, s := bucketOf(v)
	h.group(g)[s].Add(1)
	h.sum.Add(uint64(v))
	for inv := math.MaxInt64 - v; ; {
		cur := h.minInv.Load()
		if cur >= inv || h.minInv.CompareAndSwap(cur, inv) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
	// Counted last, so a reader that loads n first never sees fewer bucket
	// counts than n.
	h.n.Add(1)
}

// group returns bucket group g, allocating it on first use.
func (h *Histogram) group(g int) *[subCount]atomic.Uint64 {
	if p := h.groups[g].Load(); p != nil {
		return p
	}
	p := new([subCount]atomic.Uint64)
	if h.groups[g].CompareAndSwap(nil, p) {
		return p
	}
	return h.groups[g].Load()
}

// Merge adds every observation recorded in o to h. o is only read; h and o
// must be different histograms.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o == h {
		return
	}
	n := o.n.Load()
	if n == 0 {
		return
	}
	for g := range o.groups {
		src := o.groups[g].Load()
		if src == nil {
			continue
		}
		var dst *[subCount]atomic.Uint64
		for s := range src {
			if c := src[s].Load(); c > 0 {
				if dst == nil {
					dst = h.group(g)
				}
				dst[s].Add(c)
			}
		}
	}
	h.sum.Add(o.sum.Load())
	for inv := o.minInv.Load(); ; {
		cur := h.minInv.Load()
		if cur >= inv || h.minInv.CompareAndSwap(cur, inv) {
			break
		}
	}
	for v := o.max.Load(); ; {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
	h.n.Add(n)
}

// Count is the number of observations recorded.
func (h *Histogram) Count() int64 { return int64(h.n.Load()) }

// Min is the smallest observation, exactly; zero when the histogram is empty.
func (h *Histogram) Min() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(math.MaxInt64 - h.minInv.Load())
}

// Max is the largest observation, exactly; zero when the histogram is empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the arithmetic mean of the observations, exactly (to the
// nanosecond); zero when the histogram is empty.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the observations: the
// smallest recorded value v such that at least ⌈q·Count⌉ observations are
// ≤ v (nearest rank), to within RelativePrecision. Quantile(0) is Min and
// Quantile(1) is Max, exactly. It returns zero when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	return h.Quantiles(q)[0]
}

// Quantiles returns Quantile(q) for each q, in order, in one pass over the
// buckets.
func (h *Histogram) Quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	n := h.n.Load()
	if n == 0 || len(qs) == 0 {
		return out
	}
	lo, hi := h.Min(), h.Max()
	type want struct {
		rank uint64
		i    int
	}
	wants := make([]want, 0, len(qs))
	for i, q := range qs {
		switch {
		case !(q > 0): // also NaN
			out[i] = lo
		case q >= 1:
			out[i] = hi
		default:
			r := uint64(math.Ceil(q * float64(n)))
			wants = append(wants, want{min(max(r, 1), n), i})
		}
	}
	sort.Slice(wants, func(a, b int) bool { return wants[a].rank < wants[b].rank })
	var cum uint64
	for g := 0; g < octaves && len(wants) > 0; g++ {
		grp := h.groups[g].Load()
		if grp == nil {
			continue
		}
		for s := 0; s < subCount && len(wants) > 0; s++ {
			c := grp[s].Load()
			if c == 0 {
				continue
			}
			cum += c
			for len(wants) > 0 && cum >= wants[0].rank {
				low, width := bucketBounds(g, s)
				out[wants[0].i] = min(max(time.Duration(low+width/2), lo), hi)
				wants = wants[1:]
			}
		}
	}
	for _, w := range wants { // only if counts raced ahead of n
		out[w.i] = hi
	}
	return out
}

// Bucket is one non-empty bucket of a Histogram: Count observations v with
// Low ≤ v < High.
type Bucket struct {
	Low, High time.Duration
	Count     int64
}

// Buckets returns the non-empty buckets in increasing order, for plotting or
// exporting the whole distribution.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for g := range h.groups {
		grp := h.groups[g].Load()
		if grp == nil {
			continue
		}
		for s := range grp {
			if c := grp[s].Load(); c > 0 {
				low, width := bucketBounds(g, s)
				out = append(out, Bucket{time.Duration(low), time.Duration(low + width), int64(c)})
			}
		}
	}
	return out
}
