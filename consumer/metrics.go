package consumer

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records      *prometheus.CounterVec
	batch        prometheus.Histogram
	backoffs     prometheus.Counter
	gateLateness prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		records: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnin_consumer_records_total",
			Help: "Records processed, by outcome: recorded, duplicate, or failed_<error class>.",
		}, []string{"outcome"})),
		batch: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "turnin_consumer_batch_duration_seconds",
			Help:    "Time to process and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		})),
		backoffs: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnin_consumer_backoffs_total",
			Help: "Batches abandoned uncommitted after an infrastructure failure, followed by a backoff.",
		})),
		gateLateness: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "turnin_retry_gate_lateness_seconds",
			Help:    "How long after its due time (failure time + tier delay) a retry record was handed to processing.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		})),
	}
}

// register registers c, or returns the collector already registered under
// its name (several consumers in one process share their metrics).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
