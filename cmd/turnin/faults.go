package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/turnin-dev/turnin/consumer"
)

// FaultsEnv arms crash points in a consumer process, for fault-injection
// tests only: a comma-separated list of point=probability, e.g.
// "before-record=0.05,before-offset-commit=0.05". At each batch that
// reaches an armed point the process sends itself SIGKILL with that
// probability, the way a power cut or an OOM kill would end it there.
const FaultsEnv = "TURNIN_FAULTS"

// faultsFromEnv parses FaultsEnv; the zero Faults when it is unset.
func faultsFromEnv(log *slog.Logger) (consumer.Faults, error) {
	var f consumer.Faults
	spec := strings.TrimSpace(os.Getenv(FaultsEnv))
	if spec == "" {
		return f, nil
	}
	for _, part := range splitList(spec) {
		name, val, ok := strings.Cut(part, "=")
		p, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || p < 0 || p > 1 {
			return f, fmt.Errorf("%s: %q is not point=probability (0 to 1)", FaultsEnv, part)
		}
		crash := crashWith(p, name, log)
		switch name {
		case "before-record":
			f.BeforeRecord = crash
		case "before-offset-commit":
			f.BeforeOffsetCommit = crash
		default:
			return f, fmt.Errorf("%s: unknown crash point %q (before-record, before-offset-commit)", FaultsEnv, name)
		}
	}
	log.Warn("fault injection armed: this process will SIGKILL itself at random", "faults", spec)
	return f, nil
}

func crashWith(p float64, point string, log *slog.Logger) func() {
	return func() {
		if rand.Float64() >= p {
			return
		}
		log.Warn("fault injection: crashing", "point", point)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught; nothing after this point runs
	}
}
