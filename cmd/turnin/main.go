// Command turnin runs every part of the turnin submission-intake pipeline,
// one subcommand each, and the tools that operate it. It is wiring only:
// flags and environment are read here and passed down as config structs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{
	"dev":        {"run everything in one process: embedded broker and S3, the API, the consumer (needs PostgreSQL)", runDev},
	"api":        {"run the HTTP API against Kafka, S3 and PostgreSQL", runAPI},
	"consumer":   {"run the consumer-group workers that drain the topic into PostgreSQL", runConsumer},
	"status":     {"client: print where a receipt stands", runStatus},
	"dlq":        {"dead letters: index (the indexer process) | list | show | redrive", runDLQ},
	"replay":     {"re-read a topic from a time or offsets: move a stopped group back, or copy to a topic", runReplay},
	"loadtest":   {"client: drive an API like a deadline flood, open loop, and report latency and outcomes", runLoadtest},
	"flood":      {"side by side: the same flood against the queue path, the synchronous baseline and a bare handler; writes a report", runFlood},
	"audit":      {"prove every accepted receipt in a window is processed, retrying, dead-lettered or queued", runAudit},
	"migrate":    {"apply the database migrations", runMigrate},
	"tenant":     {"manage tenants: create NAME | revoke-key KEY", runTenant},
	"keygen":     {"print a new receipt signing key for TURNIN_RECEIPT_KEY", runKeygen},
	"assignment": {"client: put an assignment (due time, cut-off)", runAssignment},
	"submit":     {"client: upload a file and submit it, retrying with one idempotency key", runSubmit},
	"version":    {"print the commit turnin was built from and the versions of its key modules", runVersion},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: turnin <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`turnin <command> -h` lists a command's flags and their TURNIN_* variables.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		return
	}
	if os.Args[1] == "--version" {
		os.Args[1] = "version"
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "turnin: unknown command %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	os.Exit(run(cmd))
}

// errFailed makes a command exit 1 after it printed why (an audit that
// found something gone).
var errFailed = errors.New("failed")

func run(cmd command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, os.Args[2:], os.Stdout)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFailed):
		return 1
	}
	fmt.Fprintf(os.Stderr, "turnin %s: %v\n", os.Args[1], err)
	return 1
}
