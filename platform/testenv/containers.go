package testenv

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// EnvVar selects the test environment: unset for the local one
// (TURNIN_TEST_DATABASE_URL, an embedded broker or TURNIN_TEST_KAFKA_SEEDS,
// the in-process S3 gateway), or "containers" for PostgreSQL, Redpanda and
// MinIO in Docker containers started with testcontainers-go (`make
// test-docker`, which builds the tests with -tags containers).
const EnvVar = "TURNIN_TEST_ENV"

// Containers is the environment's running containers.
type Containers struct {
	PostgresURL string   // admin URL, trust authentication
	KafkaSeeds  []string // Redpanda, advertised on 127.0.0.1
	S3Endpoint  string   // MinIO, http://127.0.0.1:PORT
	S3AccessKey string
	S3SecretKey string
	S3Region    string
}

var (
	containersOnce sync.Once
	containers     *Containers
	containersErr  error
)

// inContainers reports whether the containers environment is selected.
func inContainers() bool { return os.Getenv(EnvVar) == "containers" }

// requireContainers returns the containers, starting them on first use
// (they live as long as the test binary; testcontainers' reaper removes
// them after it exits). Without Docker the test is skipped, saying so.
func requireContainers(t testing.TB) *Containers {
	t.Helper()
	containersOnce.Do(func() { containers, containersErr = startContainers() })
	switch {
	case errors.Is(containersErr, errNoDocker):
		t.Skipf("%s=containers: %v", EnvVar, containersErr)
	case containersErr != nil:
		t.Fatalf("%s=containers: %v", EnvVar, containersErr)
	}
	return containers
}
