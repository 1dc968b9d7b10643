package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func testutilCount(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestLimiterDebt: taking more than is saved makes the next caller wait
// exactly the debt, so batches of any size hold the configured rate.
func TestLimiterDebt(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(1000, 100)
	l.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a wait that must block returns ctx.Err() at once
	if err := l.wait(ctx, 100); err != nil {
		t.Fatalf("a full bucket blocked: %v", err)
	}
	if err := l.wait(ctx, 500); err == nil {
		t.Fatal("500 tokens from an empty bucket did not wait")
	}
	// 500 owed at 1000/s: after 0.5s the debt is paid.
	now = now.Add(500 * time.Millisecond)
	if err := l.wait(ctx, 0); err != nil {
		t.Fatalf("debt not paid after 0.5s: %v (tokens %.1f)", err, l.tokens)
	}
	if l.tokens < -0.001 || l.tokens > 0.001 {
		t.Fatalf("tokens %.3f, want 0", l.tokens)
	}
}
