package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("migrate", "Applies the embedded SQL migrations that are not applied yet. Idempotent; safe\nto run from several places at once (an advisory lock serializes them).")
	var lo logOpts
	var db dbOpts
	lo.register(f)
	db.register(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	log, err := lo.logger()
	if err != nil {
		return err
	}
	pool, err := pgstore.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := pgstore.Migrate(ctx, pool, log)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date (version %d)\n", res.Current)
	} else {
		fmt.Fprintf(stdout, "applied %d migration(s); schema version %d\n", len(res.Applied), res.Current)
	}
	return nil
}

func runTenant(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke-key") {
		return errors.New("usage: turnin tenant create NAME | turnin tenant revoke-key KEY")
	}
	sub := args[0]
	f := newFlags("tenant "+sub, "create NAME: creates a tenant and prints its first API key, once (only a digest is stored).\nrevoke-key KEY: revokes a key; APIs refuse it within one snapshot refresh.")
	var db dbOpts
	db.register(f)
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return fmt.Errorf("usage: turnin tenant %s %s", sub, map[string]string{"create": "NAME", "revoke-key": "KEY"}[sub])
	}
	pool, err := pgstore.Connect(ctx, db.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pgstore.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	switch sub {
	case "create":
		key, err := pgstore.CreateTenant(ctx, pool, f.fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tenant %s created. Its API key (shown once, store it now):\n%s\n", f.fs.Arg(0), key)
	case "revoke-key":
		if err := pgstore.RevokeAPIKey(ctx, pool, f.fs.Arg(0)); err != nil {
			if errors.Is(err, schema.ErrNotFound) {
				return errors.New("no active key matches")
			}
			return err
		}
		fmt.Fprintln(stdout, "key revoked")
	}
	return nil
}

func runKeygen(_ context.Context, args []string, stdout io.Writer) error {
	f := newFlags("keygen", "Prints a new Ed25519 receipt signing key (for TURNIN_RECEIPT_KEY) and its public key.")
	if err := f.Parse(args); err != nil {
		return err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	fmt.Fprintf(stdout, "TURNIN_RECEIPT_KEY=%s\n# public key (give it to whoever verifies receipts), id %s:\n%s\n",
		base64.StdEncoding.EncodeToString(seed), receiptKeyID(pub), base64.StdEncoding.EncodeToString(pub))
	return nil
}
