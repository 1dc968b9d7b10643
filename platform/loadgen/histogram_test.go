package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted: the smallest value
// with at least ⌈q·n⌉ values at or below it.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	rank := int(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func within(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)+1e-9
}

func TestHistogramQuantilesAgainstKnownDistributions(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() time.Duration{
		// Log-uniform over 1µs..60s: every power of two gets samples.
		"log-uniform 1µs..60s": func() time.Duration {
			lo, hi := math.Log(1e3), math.Log(60e9)
			return time.Duration(math.Exp(lo + rng.Float64()*(hi-lo)))
		},
		"uniform 0..100ms": func() time.Duration { return time.Duration(rng.Int64N(int64(100 * time.Millisecond))) },
		"exponential mean 5ms": func() time.Duration {
			return time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond))
		},
		"bimodal 2ms and 400ms": func() time.Duration {
			if rng.IntN(100) < 97 {
				return 2*time.Millisecond + time.Duration(rng.NormFloat64()*float64(100*time.Microsecond))
			}
			return 400*time.Millisecond + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
		},
		"constant 20ms":      func() time.Duration { return 20 * time.Millisecond },
		"small exact values": func() time.Duration { return time.Duration(rng.IntN(300)) },
	}
	qs := []float64{0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 200_000)
			var sum int64
			for i := range vals {
				v := max(gen(), 0)
				vals[i] = v
				sum += int64(v)
				h.Record(v)
			}
			slices.Sort(vals)
			if h.Count() != int64(len(vals)) {
				t.Fatalf("Count = %d, want %d", h.Count(), len(vals))
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("Min, Max = %v, %v; want %v, %v exactly", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if want := time.Duration(sum / int64(len(vals))); h.Mean() != want {
				t.Errorf("Mean = %v, want %v exactly", h.Mean(), want)
			}
			got := h.Quantiles(qs...)
			for i, q := range qs {
				want := exactQuantile(vals, q)
				if !within(got[i], want, RelativePrecision) {
					t.Errorf("Quantile(%v) = %v, want %v within %.2f%%", q, got[i], want, 100*RelativePrecision)
				}
				if one := h.Quantile(q); one != got[i] {
					t.Errorf("Quantile(%v) = %v but Quantiles gave %v", q, one, got[i])
				}
			}
		})
	}
}

func TestHistogramPrecisionAtEveryScale(t *testing.T) {
	t.Parallel()
	// One value at a time, from 1ns to MaxTrackable: the single-value
	// quantile is the value itself, to within RelativePrecision, and the
	// bucket holding it contains it.
	for v := time.Duration(1); v <= MaxTrackable; v = v*21/20 + 1 {
		var h Histogram
		h.Record(v)
		h.Record(v) // two, so that Min/Max clamping does not make it trivially exact
		h.Record(v + 1)
		if got := h.Quantile(0.5); !within(got, v, RelativePrecision) {
			t.Fatalf("single value %v: median %v outside %.2f%%", v, got, 100*RelativePrecision)
		}
		b := h.Buckets()
		if len(b) == 0 || b[0].Low > v || v >= b[0].High {
			t.Fatalf("value %v not in its first bucket %+v", v, b)
		}
		if w := b[0].High - b[0].Low; v >= subCount && float64(w) > float64(b[0].Low)/subCount {
			t.Fatalf("bucket %+v wider than 1/%d of its low bound", b[0], subCount)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	t.Parallel()
	var empty Histogram
	if empty.Count() != 0 || empty.Min() != 0 || empty.Max() != 0 || empty.Mean() != 0 || empty.Quantile(0.99) != 0 || empty.Buckets() != nil {
		t.Errorf("empty histogram is not all zero")
	}

	var h Histogram
	h.Record(-5 * time.Second)
	if h.Min() != 0 || h.Max() != 0 || h.Count() != 1 {
		t.Errorf("negative value: Min %v Max %v Count %d, want it recorded as 0", h.Min(), h.Max(), h.Count())
	}

	var big Histogram
	huge := 10 * MaxTrackable
	big.Record(time.Millisecond)
	big.Record(huge)
	if big.Max() != huge || big.Quantile(1) != huge {
		t.Errorf("Max %v, Quantile(1) %v; want exact %v", big.Max(), big.Quantile(1), huge)
	}
	if got := big.Quantile(0.75); !within(got, MaxTrackable, RelativePrecision) {
		t.Errorf("Quantile(0.75) of a value above MaxTrackable = %v, want about MaxTrackable", got)
	}
	if got := h.Quantile(math.NaN()); got != 0 {
		t.Errorf("Quantile(NaN) = %v, want Min", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	for i := range 50_000 {
		v := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		if i%3 == 0 {
			v *= 100
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(nil)
	merged.Merge(new(Histogram))
	if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() || merged.Mean() != all.Mean() {
		t.Errorf("merged Count/Min/Max/Mean = %d %v %v %v, want %d %v %v %v",
			merged.Count(), merged.Min(), merged.Max(), merged.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	if !slices.Equal(merged.Buckets(), all.Buckets()) {
		t.Errorf("merged buckets differ from recording everything in one histogram")
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	t.Parallel()
	var h, into Histogram
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.Record(time.Duration(g*each+i+1) * time.Microsecond)
				if i%1000 == 0 {
					_ = h.Quantile(0.99) // reads race with writes safely
				}
			}
		}()
	}
	wg.Wait()
	into.Merge(&h)
	if h.Count() != goroutines*each || into.Count() != goroutines*each {
		t.Fatalf("Count = %d (merged %d), want %d", h.Count(), into.Count(), goroutines*each)
	}
	if h.Min() != time.Microsecond || h.Max() != goroutines*each*time.Microsecond {
		t.Errorf("Min, Max = %v, %v", h.Min(), h.Max())
	}
	var total int64
	for _, b := range h.Buckets() {
		total += b.Count
	}
	if total != h.Count() {
		t.Errorf("buckets hold %d values, Count is %d", total, h.Count())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		v := time.Duration(1)
		for pb.Next() {
			h.Record(v)
			v = v*17%(10*time.Second) + time.Microsecond
		}
	})
}
