package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests      *prometheus.HistogramVec
	accepted      prometheus.Counter
	produceErrors *prometheus.CounterVec
	rejected      *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "turnin_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status. The accept path is route=/v1/submissions, method=POST.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnin_submissions_accepted_total",
			Help: "Submissions acknowledged by the broker and answered 202.",
		}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnin_produce_errors_total",
			Help: "Produce attempts that did not end in an acknowledgement, by kind (refused, timeout, buffer_full).",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnin_overload_rejections_total",
			Help: "Requests refused with 503 overloaded, by limit reached.",
		}, []string{"limit"}),
	}
	reg.MustRegister(m.requests, m.accepted, m.produceErrors, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "turnin_accept_in_flight",
			Help: "Submissions being accepted right now.",
		}, func() float64 { return float64(len(s.inflight)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "turnin_producer_buffered_records",
			Help: "Records buffered in the producer, waiting for an acknowledgement.",
		}, func() float64 { return float64(s.producer.BufferedProduceRecords()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "turnin_snapshot_last_refresh_timestamp_seconds",
			Help: "Unix time of the last successful key/assignment snapshot refresh.",
		}, func() float64 { return float64(s.snap.loadedAt.Load()) / 1e9 }),
	)
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// observe records every request's latency under its route pattern (never
// the raw path, so ids do not explode the label set).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the error now so its status is known
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).
			Observe(time.Since(start).Seconds())
		return nil
	}
}
