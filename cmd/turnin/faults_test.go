package main

import (
	"log/slog"
	"strings"
	"testing"
)

func TestFaultsFromEnv(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Setenv(FaultsEnv, "")
	if f, err := faultsFromEnv(log); err != nil || f.BeforeRecord != nil || f.BeforeOffsetCommit != nil {
		t.Fatalf("unset: %+v, %v; want no crash points", f, err)
	}
	t.Setenv(FaultsEnv, "before-record=0, before-offset-commit=0")
	f, err := faultsFromEnv(log)
	if err != nil || f.BeforeRecord == nil || f.BeforeOffsetCommit == nil {
		t.Fatalf("both points: %+v, %v", f, err)
	}
	f.BeforeRecord() // probability 0: returns, the test goes on
	f.BeforeOffsetCommit()
	for _, bad := range []string{"before-record", "before-record=2", "before-record=x", "after-commit=0.1"} {
		t.Setenv(FaultsEnv, bad)
		if _, err := faultsFromEnv(log); err == nil || !strings.Contains(err.Error(), FaultsEnv) {
			t.Errorf("%q: err %v, want one naming %s", bad, err, FaultsEnv)
		}
	}
}
