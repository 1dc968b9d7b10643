package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTTLCacheOneLoadPerKey: many dashboards asking at once cost one load
// per key; a fresh value is served without loading, forget and clear make
// the next get load, and a failure is not kept.
func TestTTLCacheOneLoadPerKey(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	fail := errors.New("database down")
	var failNext atomic.Bool
	c := &ttlCache[string, string]{ttl: time.Hour, load: func(_ context.Context, k string) (string, error) {
		loads.Add(1)
		<-release
		if failNext.Swap(false) {
			return "", fail
		}
		return "value of " + k, nil
	}}
	ctx := context.Background()

	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.get(ctx, "hw1")
		}()
	}
	// Every caller is either loading or queued behind the load.
	for deadline := time.Now().Add(10 * time.Second); loads.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no load started")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != "value of hw1" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 20 concurrent callers of one key", n)
	}

	if v, err := c.get(ctx, "hw1"); v != "value of hw1" || err != nil || loads.Load() != 1 {
		t.Fatalf("fresh value: %q %v after %d loads", v, err, loads.Load())
	}
	if _, err := c.get(ctx, "hw2"); err != nil || loads.Load() != 2 {
		t.Fatalf("another key: %v after %d loads", err, loads.Load())
	}
	c.forget("hw1")
	failNext.Store(true)
	if _, err := c.get(ctx, "hw1"); !errors.Is(err, fail) || loads.Load() != 3 {
		t.Fatalf("after forget: %v after %d loads", err, loads.Load())
	}
	if v, err := c.get(ctx, "hw1"); v != "value of hw1" || err != nil || loads.Load() != 4 {
		t.Fatalf("after a failure: %q %v after %d loads", v, err, loads.Load())
	}
	c.clear()
	if _, err := c.get(ctx, "hw2"); err != nil || loads.Load() != 5 {
		t.Fatalf("after clear: %v after %d loads", err, loads.Load())
	}

	// A key nobody asked for in a minute is dropped when another arrives.
	c.entries["hw2"].at = time.Now().Add(-2 * time.Minute)
	if _, err := c.get(ctx, "hw3"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.entries["hw2"]; ok {
		t.Fatal("a stale key was kept")
	}
}
