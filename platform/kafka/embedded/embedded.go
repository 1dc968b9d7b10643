// Package embedded runs franz-go's kfake broker in process: turnin's
// embedded default for `turnin dev` and the fast tests. With a DataDir the
// log survives restarts; with SyncWrites every acknowledged batch was
// fsynced first, so an acknowledgement means the record is on disk.
//
// kfake does not replicate (its brokers share one log), so acks=all costs
// nothing extra here; replication and failover are exercised against a real
// Apache Kafka cluster.
package embedded

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// DataDir is where the log is persisted. Empty keeps it in memory.
	DataDir string
	// SyncWrites fsyncs every produced batch before acknowledging it.
	SyncWrites bool
	// Port is the listening port on 127.0.0.1; 0 picks a free one.
	Port int
	// Opts are extra kfake options (tests use them for faults).
	Opts []kfake.Opt
}

// Broker is a running embedded broker.
type Broker struct {
	c *kfake.Cluster
}

// Start starts a one-node broker listening on 127.0.0.1.
func Start(cfg Config) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.DefaultNumPartitions(12),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(append(opts, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addrs returns the broker's host:port addresses.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Cluster exposes the kfake cluster for fault injection in tests.
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker, saving its state when it has a DataDir.
func (b *Broker) Close() { b.c.Close() }
