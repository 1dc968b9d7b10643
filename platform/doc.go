// Package platform is turnin's shared runtime plumbing. Each technology sits
// behind one sub-package, the only place its client library is imported:
//
//   - kafka: franz-go client options (acks=all, idempotent, bounded buffer)
//     and topic administration; kafka/embedded runs kfake in process.
//   - pgstore: the pgx pool, migrations, and every SQL statement.
//   - objstore: the S3 client (minio-go); objstore/s3embed runs an S3
//     gateway in process over real HTTP.
//   - telemetry: structured logging.
//   - testenv: the real parts tests run against (embedded by default, a real
//     cluster when TURNIN_TEST_KAFKA_SEEDS names one).
//
// Services (api, consumer, dlq) import these packages and schema; they
// never import each other.
package platform
