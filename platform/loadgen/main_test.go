package loadgen

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if any goroutine is still running loadgen code
// (a dispatcher, a request or a progress reporter) once the tests are over.
// It polls with a deadline, since a goroutine may still be unwinding.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "loadgen: goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForLeaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := loadgenGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		runtime.Gosched()
	}
}

// loadgenGoroutines returns the stacks of the other goroutines running
// package code that Run starts.
func loadgenGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // this goroutine
			continue
		}
		if strings.Contains(g, "loadgen.(*runner)") || strings.Contains(g, "loadgen.Run") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}
