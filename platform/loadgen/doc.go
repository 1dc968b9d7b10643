// Package loadgen is turnin's open-loop load generator, used by benchmarks
// and by `turnin loadtest` to measure throughput and latency the way
// DESIGN.md asks: at a constant (or linearly ramped) arrival rate, with
// latency measured from each request's scheduled send time.
//
// # Why open loop
//
// A closed-loop client sends the next request only when a previous one has
// answered, so when the system under test stalls the client stalls with
// it, sends less, and the requests it never sent never record the delay
// they would have seen. That is coordinated omission: the slow period
// shrinks in the statistics. Here request i is due at a fixed offset from
// the start that depends only on the configured rates, and its latency runs
// from that offset, so any queueing, in the system or in the generator,
// counts.
//
// # How the pieces meet
//
//   - Config: the schedule (Rate, RampFrom/RampDuration, bounded by Count
//     and/or Duration), the cap on outstanding requests and what to do when
//     it is reached (SaturationPolicy), per-request Timeout, end-of-run
//     Grace, and optional Progress snapshots.
//   - Op: one request against the system under test, returning an outcome
//     label (e.g. "202") and an error for failures.
//   - Run: one dispatcher goroutine walks the schedule in order, sleeping
//     until each request is due (never sending early), and starts one
//     goroutine per request, bounded by MaxOutstanding. Every request due is
//     counted exactly once: completed (OK or error) or dropped, never
//     silently skipped.
//   - Result: counts, outcomes, a Histogram of latencies (overall and per
//     outcome), the send lag, and per-second buckets; Summary renders it.
//   - Histogram: a log-linear (HdrHistogram-style) histogram with 0.4 %
//     relative precision from 1ns to over two hours, lock-free to record
//     and mergeable.
package loadgen
