package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
)

// build describes the running binary, from what the Go toolchain stamped
// into it: the commit (when built from a git checkout) and the versions of
// its modules.
type build struct {
	Commit   string // 12 hex digits, or a sentence saying it is unknown
	Modified bool   // built from a checkout with uncommitted changes
	Deps     map[string]string
}

func readBuild() build {
	b := build{Commit: "unknown (built with -buildvcs=false, or by go test)", Deps: map[string]string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		b.Deps[d.Path] = d.Version
	}
	return b
}

// commit is the commit with "(modified)" when the tree was dirty.
func (b build) commit() string {
	if b.Modified {
		return b.Commit + " (modified)"
	}
	return b.Commit
}

// keyDeps are the modules whose versions a bug report needs.
var keyDeps = []string{"github.com/twmb/franz-go", "github.com/jackc/pgx/v5", "github.com/labstack/echo/v4",
	"github.com/minio/minio-go/v7", "github.com/versity/versitygw"}

func runVersion(_ context.Context, _ []string, stdout io.Writer) error {
	b := readBuild()
	fmt.Fprintf(stdout, "turnin commit %s, %s %s/%s\n", b.commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, m := range keyDeps {
		if v := b.Deps[m]; v != "" {
			fmt.Fprintf(stdout, "  %s %s\n", m, v)
		}
	}
	return nil
}

// logStart logs which build of turnin is starting, so a log tells which
// code wrote it.
func logStart(log *slog.Logger) {
	b := readBuild()
	log.Info("turnin starting", "command", os.Args[1], "commit", b.commit(), "go", runtime.Version(),
		"franz_go", b.Deps["github.com/twmb/franz-go"], "pgx", b.Deps["github.com/jackc/pgx/v5"])
}
