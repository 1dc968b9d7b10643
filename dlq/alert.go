package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/pgstore"
)

// Alerter turns new dead letters into a Prometheus counter and, when a
// webhook is configured, one summary notification per indexed batch — not
// one message per record, so a flood of failures is one alert.
type Alerter struct {
	webhook string
	client  httpDoer
	log     *slog.Logger
	counter *prometheus.CounterVec
	failed  prometheus.Counter
}

// ErrAlertNotDelivered is logged when the webhook refused every try.
var ErrAlertNotDelivered = errors.New("dlq: alert not delivered")

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// NewAlerter returns an alerter posting to webhook ("" for metrics only).
func NewAlerter(webhook string, reg prometheus.Registerer, log *slog.Logger) *Alerter {
	a := &Alerter{
		webhook: webhook, client: &http.Client{Timeout: 10 * time.Second}, log: log.With("component", "dlq-alerts"),
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnin_dead_letters_total",
			Help: "Records dead-lettered, by error class, as indexed.",
		}, []string{"class"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnin_dead_letter_alerts_failed_total",
			Help: "Dead-letter alert notifications the webhook did not accept after every try.",
		}),
	}
	if reg != nil {
		reg.MustRegister(a.counter, a.failed)
	}
	return a
}

// Alert is the body of a dead-letter notification.
type Alert struct {
	DeadLetters int            `json:"dead_letters"`
	ByClass     map[string]int `json:"by_class"`
	// Receipts are some of the affected receipt ids (at most 20).
	Receipts []string  `json:"receipts"`
	First    time.Time `json:"first_failure_at"`
	Last     time.Time `json:"last_failure_at"`
	// Hint says where to look.
	Hint string `json:"hint"`
}

// Notify counts and announces the dead letters among fresh.
func (a *Alerter) Notify(ctx context.Context, fresh []pgstore.Failure) {
	al := Alert{ByClass: map[string]int{}, Hint: "turnin dlq list --state dead_lettered"}
	for _, f := range fresh {
		if f.State != pgstore.FailureDeadLettered {
			continue
		}
		a.counter.WithLabelValues(f.ErrorClass).Inc()
		al.DeadLetters++
		al.ByClass[f.ErrorClass]++
		if f.ReceiptID != "" && len(al.Receipts) < 20 {
			al.Receipts = append(al.Receipts, f.ReceiptID)
		}
		if al.First.IsZero() || f.LastFailureAt.Before(al.First) {
			al.First = f.LastFailureAt
		}
		if f.LastFailureAt.After(al.Last) {
			al.Last = f.LastFailureAt
		}
	}
	if al.DeadLetters == 0 {
		return
	}
	a.log.Warn("records dead-lettered", "count", al.DeadLetters, "by_class", al.ByClass)
	if a.webhook == "" {
		return
	}
	body, _ := json.Marshal(&al)
	bo := backoff.Backoff{Min: 500 * time.Millisecond, Max: 5 * time.Second}
	var err error
	for try := 0; try < 4; try++ {
		if err = a.post(ctx, body); err == nil {
			return
		}
		if !backoff.Sleep(ctx, bo.Next()) {
			break
		}
	}
	a.failed.Inc()
	a.log.Error("dead-letter alert not delivered; the dead letters are indexed and counted", "err", fmt.Errorf("%w: %w", ErrAlertNotDelivered, err))
}

func (a *Alerter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
