package consumer

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// gate holds back a retry tier's records until their delay has passed since
// the failure that put them there (the record's timestamp). A partition
// whose next record is not due yet is rewound to that record and paused
// until it is — no thread sleeps, nothing is processed early, and the other
// partitions keep flowing.
type gate struct {
	cl    *kgo.Client
	delay time.Duration
	now   func() time.Time
	// observe, when set, gets how late each record passes the gate: the
	// time from when it was due to when it is handed to processing.
	observe func(time.Duration)

	mu     sync.Mutex
	timers map[tp]*time.Timer
}

type tp struct {
	topic     string
	partition int32
}

func newGate(cl *kgo.Client, delay time.Duration, observe func(time.Duration)) *gate {
	return &gate{cl: cl, delay: delay, now: time.Now, observe: observe, timers: map[tp]*time.Timer{}}
}

// due returns the records that may be processed now, in order. It must be
// called from the polling goroutine before AllowRebalance.
func (g *gate) due(recs []*kgo.Record) []*kgo.Record {
	if g.delay <= 0 || len(recs) == 0 {
		return recs
	}
	now := g.now()
	held := map[tp]*kgo.Record{}
	out := recs[:0:0]
	for _, r := range recs {
		k := tp{r.Topic, r.Partition}
		if _, ok := held[k]; ok {
			continue // behind a record that is not due: refetched after the rewind
		}
		if r.Timestamp.Add(g.delay).After(now) {
			held[k] = r
			continue
		}
		if g.observe != nil {
			g.observe(now.Sub(r.Timestamp.Add(g.delay)))
		}
		out = append(out, r)
	}
	if len(held) == 0 {
		return out
	}
	rewind := map[string]map[int32]kgo.EpochOffset{}
	pause := map[string][]int32{}
	for k, r := range held {
		if rewind[k.topic] == nil {
			rewind[k.topic] = map[int32]kgo.EpochOffset{}
		}
		rewind[k.topic][k.partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		pause[k.topic] = append(pause[k.topic], k.partition)
	}
	g.cl.PauseFetchPartitions(pause)
	g.cl.SetOffsets(rewind)
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, r := range held {
		if t := g.timers[k]; t != nil {
			t.Stop()
		}
		k := k
		g.timers[k] = time.AfterFunc(r.Timestamp.Add(g.delay).Sub(now), func() {
			g.cl.ResumeFetchPartitions(map[string][]int32{k.topic: {k.partition}})
		})
	}
	return out
}

// stop cancels pending resumes; the client is about to close.
func (g *gate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.timers {
		t.Stop()
	}
}
