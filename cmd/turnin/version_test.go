package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: the version command names the commit (or why it cannot)
// and the Go release and module versions a bug report needs.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := runVersion(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(first, "turnin commit ") || !strings.Contains(first, runtime.Version()) {
		t.Fatalf("first line %q", first)
	}
	if !strings.Contains(rest, "github.com/twmb/franz-go v") || !strings.Contains(rest, "github.com/jackc/pgx/v5 v") {
		t.Fatalf("module versions missing:\n%s", out.String())
	}
}
