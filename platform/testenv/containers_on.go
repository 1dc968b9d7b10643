//go:build containers

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Images of the containers environment.
const (
	postgresImage = "postgres:16-alpine"
	redpandaImage = "docker.redpanda.com/redpandadata/redpanda:v24.2.7"
	minioImage    = "minio/minio:RELEASE.2024-12-18T13-15-44Z"
)

var (
	errNotBuilt = errors.New("not reached: built with -tags containers")
	errNoDocker = errors.New("no Docker engine answers here (the containers environment needs one; `make test` needs none)")
)

func startContainers() (*Containers, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDocker, err)
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDocker, err)
	}
	c := &Containers{S3AccessKey: "turnin-test", S3SecretKey: "turnin-test-secret", S3Region: "us-east-1"}

	pg, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        postgresImage,
			Env:          map[string]string{"POSTGRES_USER": "turnin", "POSTGRES_DB": "turnin", "POSTGRES_HOST_AUTH_METHOD": "trust"},
			ExposedPorts: []string{"5432/tcp"},
			WaitingFor:   wait.ForLog("database system is ready to accept connections").WithOccurrence(2).WithStartupTimeout(2 * time.Minute),
		}})
	if err != nil {
		return nil, fmt.Errorf("postgres container: %w", err)
	}
	pgPort, err := pg.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return nil, err
	}
	c.PostgresURL = fmt.Sprintf("postgres://turnin@127.0.0.1:%s/turnin?sslmode=disable", pgPort.Port())

	// Redpanda advertises the address clients reach it on, so its host
	// port is chosen before it starts.
	kport, err := hostPort()
	if err != nil {
		return nil, err
	}
	_, err = testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        redpandaImage,
			ExposedPorts: []string{fmt.Sprintf("127.0.0.1:%d:9092/tcp", kport)},
			Cmd: []string{"redpanda", "start", "--mode", "dev-container", "--smp", "1", "--overprovisioned",
				"--kafka-addr", "PLAINTEXT://0.0.0.0:9092", "--advertise-kafka-addr", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", kport)},
			WaitingFor: wait.ForLog("Successfully started Redpanda!").WithStartupTimeout(2 * time.Minute),
		}})
	if err != nil {
		return nil, fmt.Errorf("redpanda container: %w", err)
	}
	c.KafkaSeeds = []string{fmt.Sprintf("127.0.0.1:%d", kport)}

	s3, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        minioImage,
			Cmd:          []string{"server", "/data"},
			Env:          map[string]string{"MINIO_ROOT_USER": c.S3AccessKey, "MINIO_ROOT_PASSWORD": c.S3SecretKey},
			ExposedPorts: []string{"9000/tcp"},
			WaitingFor:   wait.ForHTTP("/minio/health/live").WithPort("9000/tcp").WithStartupTimeout(2 * time.Minute),
		}})
	if err != nil {
		return nil, fmt.Errorf("minio container: %w", err)
	}
	s3Port, err := s3.MappedPort(ctx, "9000/tcp")
	if err != nil {
		return nil, err
	}
	c.S3Endpoint = "http://127.0.0.1:" + s3Port.Port()
	return c, nil
}

// hostPort returns a port on 127.0.0.1 free right now.
func hostPort() (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
