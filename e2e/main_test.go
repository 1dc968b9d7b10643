package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Set by TestMain.
var (
	repoRoot  string // the checkout
	turninBin string // the turnin binary the scenarios start as processes
	pgDataDir string // the suite's own PostgreSQL (restarted by a scenario)
	pgPort    string
)

// TestMain builds turnin and starts a PostgreSQL of the suite's own: one
// scenario restarts it, which must not disturb the other packages' tests
// sharing the machine's cluster.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if os.Getenv("TURNIN_TEST_ENV") == "containers" {
		fmt.Println("e2e: skipped under TURNIN_TEST_ENV=containers: the fault-injection suite restarts its own PostgreSQL and brokers; run it with `make test` or `make test-cluster`")
		return 0
	}
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	bin, err := os.MkdirTemp("", "turnin-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(bin) }()
	turninBin = filepath.Join(bin, "turnin")
	build := exec.Command("go", "build", "-o", turninBin, "./cmd/turnin")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building turnin: %v\n%s", err, out)
		return 1
	}
	if testing.Short() {
		return m.Run()
	}
	stopPG, err := startPostgres()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: PostgreSQL:", err)
		return 1
	}
	defer stopPG()
	code := m.Run()
	writeReport()
	return code
}

// startPostgres starts a cluster under a new directory on a free port with
// infra/postgres.sh, and points testenv at it.
func startPostgres() (func(), error) {
	dir, err := os.MkdirTemp("", "turnin-e2e-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the server runs as another user when we are root
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pgDataDir, pgPort = dir, fmt.Sprint(port)
	url, err := pgScript("start")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Setenv("TURNIN_TEST_DATABASE_URL", url); err != nil {
		return nil, err
	}
	return func() {
		if _, err := pgScript("destroy"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: removing PostgreSQL:", err)
		}
		_ = os.RemoveAll(dir)
	}, nil
}

// pgScript runs infra/postgres.sh on the suite's cluster and returns its
// standard output.
func pgScript(verb string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "infra", "postgres.sh"), verb)
	cmd.Env = append(os.Environ(), "TURNIN_DATA_DIR="+pgDataDir, "TURNIN_PG_PORT="+pgPort)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("infra/postgres.sh %s: %w\n%s", verb, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now,
// below Linux's ephemeral range (32768-60999). The scenarios bind these
// ports again after a kill or a restart; in the ephemeral range, one of the
// suite's many client sockets could hold the port by then.
func freePort() (int, error) {
	var lc net.ListenConfig
	for range 200 {
		port := 20000 + rand.IntN(12000)
		ln, err := lc.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return port, nil
	}
	return 0, errors.New("e2e: no free port between 20000 and 32000")
}

// clusterSeeds returns the real cluster's seeds, or nil on the embedded broker.
func clusterSeeds() []string {
	if s := os.Getenv("TURNIN_TEST_KAFKA_SEEDS"); s != "" {
		return strings.Split(s, ",")
	}
	return nil
}

// needsCluster skips a scenario that only means something with replication.
func needsCluster(t *testing.T) {
	t.Helper()
	if clusterSeeds() == nil {
		t.Skip("needs the 3-broker cluster (replication, leader election, ISR): run `make test-cluster`")
	}
}

// skipShort skips the scenarios under -short: they take tens of seconds each.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault-injection scenario: skipped with -short")
	}
}

// waitFor polls cond every 50ms until it holds or d has passed, and
// reports which.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// within polls cond every 50ms until it holds, failing the test after d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(d, cond) {
		t.Fatalf("not within %v: %s", d, what)
	}
}
