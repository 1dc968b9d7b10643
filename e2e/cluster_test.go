package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/backoff"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/testenv"
)

// kafkaNode runs infra/kafka.sh on one node of the cluster: stop, kill or start.
func kafkaNode(t *testing.T, verb string, node int32) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "infra", "kafka.sh"), verb, strconv.Itoa(int(node)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("infra/kafka.sh %s %d: %v\n%s", verb, node, err, out)
	}
}

// leaderOf returns the broker leading a partition of the scenario's topic.
func (s *stack) leaderOf(ctx context.Context, partition int32) int32 {
	s.t.Helper()
	td, err := s.admin.ListTopics(ctx, s.topic)
	if err != nil {
		s.t.Fatal(err)
	}
	p, ok := td[s.topic].Partitions[partition]
	if !ok || p.Leader < 0 {
		s.t.Fatalf("partition %d of %s has no leader", partition, s.topic)
	}
	return p.Leader
}

// waitFullISR waits until every partition of the scenario's topics has all
// its replicas in sync again, so the next scenario starts whole.
func (s *stack) waitFullISR(d time.Duration) {
	s.t.Helper()
	testenv.WaitInSync(s.t, s.kcl, kafka.Topics(s.topic, 1), d)
}

// TestLeaderKilledMidFlood (invariant 1: once acknowledged with acks=all,
// a broker's death loses nothing): the leader of a partition is SIGKILLed
// mid-flood and restarted 5s later. Every acknowledged submission ends
// processed or dead-lettered, none twice.
func TestLeaderKilledMidFlood(t *testing.T) {
	needsCluster(t)
	skipShort(t)
	ctx := testenv.Ctx(t, 6*time.Minute)
	s := newStack(t, stackOpts{consumers: 2, consumerEnv: []string{"TURNIN_CONSUMER_SESSION_TIMEOUT=6s"}})
	t.Cleanup(func() { s.waitFullISR(3 * time.Minute) })
	items := s.prepare(ctx, floodN, poisonEvery, missingEvery)
	w := watchOffsets(s.admin, s.group)
	leader := s.leaderOf(ctx, 0)
	var window [2]time.Time
	fault := at(ctx, 2*time.Second, func() {
		window[0] = time.Now()
		kafkaNode(t, "kill", leader)
		if backoff.Sleep(ctx, 5*time.Second) {
			kafkaNode(t, "start", leader)
		}
		window[1] = time.Now()
	})
	fr := s.flood(ctx, items, floodOpts{rate: floodRate, retry: true, timeout: 10 * time.Second})
	<-fault
	s.waitFullISR(3 * time.Minute)
	s.verdict(ctx, "partition leader killed -9 mid-flood", fr, w, window,
		fmt.Sprintf("broker %d (leader of partition 0) killed -9 and restarted 5s later", leader))
}

// TestISRBelowMinimum (invariant 1: the API never says 202 unless the
// record is replicated as acks=all and min.insync.replicas require): with
// two of three brokers down it answers 503 with Retry-After within a
// bounded time, never 202; when one broker returns, accepts resume.
func TestISRBelowMinimum(t *testing.T) {
	needsCluster(t)
	skipShort(t)
	ctx := testenv.Ctx(t, 6*time.Minute)
	s := newStack(t, stackOpts{consumers: 1, consumerEnv: []string{"TURNIN_CONSUMER_SESSION_TIMEOUT=6s"}})
	t.Cleanup(func() {
		kafkaNode(t, "start", 2)
		kafkaNode(t, "start", 3)
		s.waitFullISR(3 * time.Minute)
	})
	items := s.prepare(ctx, 400, poisonEvery, missingEvery)
	kafkaNode(t, "kill", 2)
	kafkaNode(t, "kill", 3)
	outage := [2]time.Time{time.Now()}
	const clientTimeout = 15 * time.Second
	fr := s.flood(ctx, items[:100], floodOpts{rate: 25, timeout: clientTimeout, budget: time.Nanosecond})
	outage[1] = time.Now()
	var slowest time.Duration
	for _, a := range fr.ledger.Attempts() {
		if a.acknowledged() {
			t.Fatal("invariant 1: a 202 with two of three brokers down (min.insync.replicas=2)")
		}
		if a.Status != 503 && a.Status != 422 {
			t.Errorf("with the ISR below its minimum an answer was %d %q %s; want 503 with Retry-After (or 422 for a missing file)", a.Status, a.Code, a.Err)
		}
		slowest = max(slowest, a.Answered.Sub(a.Sent))
	}
	kafkaNode(t, "start", 2)
	fr2 := s.flood(ctx, items[100:], floodOpts{rate: 25, retry: true, timeout: clientTimeout})
	if fr2.ledger.Count(Acknowledged) == 0 {
		t.Fatal("accepts did not resume once a second broker was back")
	}
	kafkaNode(t, "start", 3)
	s.waitFullISR(3 * time.Minute)
	fr.ledger.Merge(fr2.ledger)
	s.verdict(ctx, "ISR below min.insync.replicas", fr, nil, outage,
		fmt.Sprintf("brokers 2 and 3 killed: 100 requests, no 202, all answered 503 within %v (client timeout %v); accepts resumed with broker 2 back", slowest.Round(time.Millisecond), clientTimeout))
}
