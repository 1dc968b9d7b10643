package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/turnin-dev/turnin/api"
	"github.com/turnin-dev/turnin/consumer"
	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/telemetry"
	"github.com/turnin-dev/turnin/schema"
)

// DefaultDatabaseURL is the local cluster infra/postgres.sh starts.
const DefaultDatabaseURL = "postgres://turnin@127.0.0.1:55432/turnin?sslmode=disable"

type logOpts struct{ format, level string }

func (o *logOpts) register(f *flags) {
	f.String(&o.format, "log-format", "TURNIN_LOG_FORMAT", "text", "log format: text or json")
	f.String(&o.level, "log-level", "TURNIN_LOG_LEVEL", "info", "log level: debug, info, warn or error")
}

func (o *logOpts) logger() (*slog.Logger, error) {
	return telemetry.NewLogger(os.Stderr, o.format, o.level)
}

type dbOpts struct{ url string }

func (o *dbOpts) register(f *flags) {
	f.String(&o.url, "database-url", "TURNIN_DATABASE_URL", DefaultDatabaseURL, "PostgreSQL URL")
}

type kafkaOpts struct {
	brokers        string
	topic          string
	produceTimeout time.Duration
	maxBuffered    int
	linger         time.Duration
	partitions     int
	replication    int
}

func (o *kafkaOpts) register(f *flags, withBrokers bool) {
	if withBrokers {
		f.String(&o.brokers, "kafka-brokers", "TURNIN_KAFKA_BROKERS", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	}
	f.String(&o.topic, "topic", "TURNIN_TOPIC", schema.DefaultTopic, "submissions topic (retry and dead-letter topics are named after it)")
	f.Duration(&o.produceTimeout, "produce-timeout", "TURNIN_PRODUCE_TIMEOUT", kafka.DefaultProduceTimeout, "longest wait for the broker's acknowledgement before answering 503")
	f.Int(&o.maxBuffered, "producer-max-buffered", "TURNIN_PRODUCER_MAX_BUFFERED", kafka.DefaultMaxBufferedRecords, "records the producer may buffer; past it the API answers 503")
	f.Duration(&o.linger, "producer-linger", "TURNIN_PRODUCER_LINGER", kafka.DefaultLinger, "how long a partition waits to fill a batch")
	f.Int(&o.partitions, "topic-partitions", "TURNIN_TOPIC_PARTITIONS", kafka.DefaultPartitions, "partitions when turnin creates its topics")
	f.Int(&o.replication, "topic-replication", "TURNIN_TOPIC_REPLICATION", kafka.DefaultReplicationFactor, "replication factor when turnin creates its topics (capped at the broker count)")
}

func (o *kafkaOpts) config(brokers []string, log *slog.Logger) kafka.Config {
	if brokers == nil {
		brokers = splitList(o.brokers)
	}
	return kafka.Config{
		Brokers: brokers, Topic: o.topic, ProduceTimeout: o.produceTimeout,
		DeliveryTimeout:    max(kafka.DefaultDeliveryTimeout, o.produceTimeout*2),
		MaxBufferedRecords: o.maxBuffered, Linger: o.linger, Partitions: int32(o.partitions),
		ReplicationFactor: int16(o.replication), Logger: log,
	}.WithDefaults()
}

type s3Opts struct {
	endpoint, accessKey, secretKey, bucket, region string
	presignExpiry                                  time.Duration
}

func (o *s3Opts) register(f *flags, withEndpoint bool) {
	if withEndpoint {
		f.String(&o.endpoint, "s3-endpoint", "TURNIN_S3_ENDPOINT", "", "S3 endpoint URL, e.g. https://s3.us-east-1.amazonaws.com")
		f.String(&o.accessKey, "s3-access-key", "TURNIN_S3_ACCESS_KEY", "", "S3 access key id")
		f.String(&o.secretKey, "s3-secret-key", "TURNIN_S3_SECRET_KEY", "", "S3 secret access key")
		f.String(&o.region, "s3-region", "TURNIN_S3_REGION", objstore.DefaultRegion, "S3 signing region")
	}
	f.String(&o.bucket, "s3-bucket", "TURNIN_S3_BUCKET", objstore.DefaultBucket, "bucket that holds uploads")
	f.Duration(&o.presignExpiry, "upload-url-expiry", "TURNIN_UPLOAD_URL_EXPIRY", objstore.DefaultPresignExpiry, "how long an upload URL stays valid")
}

func (o *s3Opts) config() objstore.Config {
	return objstore.Config{Endpoint: o.endpoint, AccessKey: o.accessKey, SecretKey: o.secretKey,
		Bucket: o.bucket, Region: o.region, PresignExpiry: o.presignExpiry}.WithDefaults()
}

type apiOpts struct {
	addr, publicURL string
	maxInFlight     int
	maxObjectSize   int64
	retryAfter      time.Duration
	refresh         time.Duration
	receiptKey      string
	objectCheck     string
	acceptMode      string
	sessionKey      string
	group           string
}

func (o *apiOpts) register(f *flags, withReceiptKey bool) {
	f.String(&o.addr, "http-addr", "TURNIN_HTTP_ADDR", api.DefaultAddr, "HTTP listen address")
	f.String(&o.publicURL, "public-url", "TURNIN_PUBLIC_URL", "", "public base URL used in status_url (default: relative URLs)")
	f.Int(&o.maxInFlight, "max-in-flight", "TURNIN_MAX_IN_FLIGHT", api.DefaultMaxInFlight, "submissions accepted at once; past it the API answers 503")
	f.Int64(&o.maxObjectSize, "max-upload-size", "TURNIN_MAX_UPLOAD_SIZE", api.DefaultMaxObjectSize, "largest declared upload, in bytes")
	f.Duration(&o.retryAfter, "retry-after", "TURNIN_RETRY_AFTER", api.DefaultRetryAfter, "Retry-After sent with every 503")
	f.String(&o.objectCheck, "object-check", "TURNIN_OBJECT_CHECK", string(api.ObjectCheckHead), "how the accept path checks the uploaded file: head (one HEAD per submission, refuse with 422) or deferred (no store I/O; the consumer's verification dead-letters a bad object)")
	f.String(&o.acceptMode, "accept-mode", "TURNIN_ACCEPT_MODE", string(api.AcceptQueue), "queue (turnin) or sync (the synchronous comparison baseline: writes the database before answering; for measurements only)")
	f.Duration(&o.refresh, "snapshot-refresh", "TURNIN_SNAPSHOT_REFRESH", api.DefaultRefreshInterval, "how often API keys and assignments are reloaded")
	if withReceiptKey { // turnin api; dev knows its own consumers
		f.String(&o.group, "backlog-group", "TURNIN_CONSUMER_GROUP", consumer.DefaultGroup, "consumer group whose backlog the dashboard shows")
		f.String(&o.sessionKey, "session-key", "TURNIN_SESSION_KEY", "", "secret (32+ bytes, base64) that signs dashboard sessions; give every API instance the same one (default: random per process)")
		f.String(&o.receiptKey, "receipt-key", "TURNIN_RECEIPT_KEY", "", "Ed25519 seed (32 bytes, base64) that signs receipts; required")
	}
}

func (o *apiOpts) config(k kafka.Config, seed []byte) api.Config {
	c := api.Config{
		Addr: o.addr, PublicURL: o.publicURL, MaxInFlight: o.maxInFlight, MaxObjectSize: o.maxObjectSize,
		RetryAfter: o.retryAfter, RefreshInterval: o.refresh, ProduceTimeout: k.ProduceTimeout,
		ObjectCheck: api.ObjectCheck(o.objectCheck), AcceptMode: api.AcceptMode(o.acceptMode),
	}
	if o.sessionKey != "" {
		c.SessionKey, _ = base64.StdEncoding.DecodeString(o.sessionKey) // a bad one fails Validate
	}
	if seed != nil {
		c.ReceiptKey = ed25519.NewKeyFromSeed(seed)
		c.ReceiptKeyID = receiptKeyID(c.ReceiptKey.Public().(ed25519.PublicKey))
	}
	return c
}

// receiptKeyID names a signing key by its public key, so receipts say
// which key verifies them.
func receiptKeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(h[:6])
}

func parseSeed(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("a receipt signing key is required: set TURNIN_RECEIPT_KEY to 32 random bytes in base64 (`turnin keygen` makes one)")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("TURNIN_RECEIPT_KEY must be %d bytes in standard base64", ed25519.SeedSize)
	}
	return b, nil
}
