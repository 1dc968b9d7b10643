package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// offsetWatch samples a group's committed offsets while a scenario runs
// and records any partition whose committed offset moved backwards
// (DESIGN.md: committed offsets never move backwards).
type offsetWatch struct {
	mu         sync.Mutex
	last       map[string]map[int32]int64
	samples    int
	violations []string
	stop       chan struct{}
	done       chan struct{}
}

func watchOffsets(admin *kadm.Client, groups ...string) *offsetWatch {
	w := &offsetWatch{last: map[string]map[int32]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, g := range groups {
				w.sample(admin, g)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *offsetWatch) sample(admin *kadm.Client, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := admin.FetchOffsets(ctx, group)
	if err != nil {
		return // a broker down or the coordinator moving: try again next tick
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || o.At < 0 {
			return
		}
		key := group + "/" + o.Topic
		if w.last[key] == nil {
			w.last[key] = map[int32]int64{}
		}
		if prev, ok := w.last[key][o.Partition]; ok && o.At < prev {
			w.violations = append(w.violations, fmt.Sprintf("%s partition %d: committed offset went from %d back to %d", key, o.Partition, prev, o.At))
		}
		if o.At > w.last[key][o.Partition] {
			w.last[key][o.Partition] = o.At
		}
	})
}

// finish stops sampling and returns the violations and sample count.
func (w *offsetWatch) finish() ([]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.violations, w.samples
}
