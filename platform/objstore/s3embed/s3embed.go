// Package s3embed runs an S3-compatible gateway (versitygw) in process,
// serving a folder over real HTTP on 127.0.0.1. It authenticates every
// request with SigV4 — a presigned URL that was changed, has expired or was
// signed with another secret is refused — and verifies signed checksums, so
// tests and `turnin dev` exercise the same rules a production store applies.
//
// Only one gateway can run per process (a versitygw limit): Start returns
// an error when one is already running. The gateway's filesystem backend
// changes the process's working directory to its object folder: give every
// other path as an absolute one (StartDev and testenv do).
package s3embed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// Config configures the gateway.
type Config struct {
	// Dir holds the objects (Dir/objects) and their metadata (Dir/meta). Required.
	Dir string
	// Addr is the listening address. Defaults to 127.0.0.1 on a free port.
	Addr string
	// AccessKey and SecretKey are the root credentials. Generated when empty.
	AccessKey, SecretKey string
	// Region defaults to us-east-1.
	Region string
}

// Server is a running gateway.
type Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	Region               string

	cancel context.CancelFunc
	done   chan error
}

// Start starts the gateway and returns once it answers HTTP.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("s3embed: Dir is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey = "turnin" + randHex(6)
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = randHex(20)
	}
	dir, err := filepath.Abs(cfg.Dir) // the backend compares absolute paths
	if err != nil {
		return nil, fmt.Errorf("s3embed: %w", err)
	}
	objects, metaDir := filepath.Join(dir, "objects"), filepath.Join(dir, "meta")
	for _, d := range []string{objects, metaDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("s3embed: %w", err)
		}
	}
	addr := cfg.Addr
	if addr == "" {
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	// Object metadata (content type, checksums) in extended attributes is
	// several times cheaper per HEAD than sidecar files; fall back to
	// sidecar files where the filesystem has no user xattrs.
	var store meta.MetadataStorer = meta.XattrMeta{}
	opts := posix.PosixOpts{ValidateBucketNames: true}
	if err := (meta.XattrMeta{}).Test(objects); err != nil {
		sc, err := meta.NewSideCar(metaDir)
		if err != nil {
			return nil, fmt.Errorf("s3embed: metadata: %w", err)
		}
		store, opts.SideCarDir = sc, metaDir
	}
	be, err := posix.New(objects, store, opts)
	if err != nil {
		return nil, fmt.Errorf("s3embed: backend: %w", err)
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		Endpoint: "http://" + addr, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey,
		Region: cfg.Region, cancel: cancel, done: make(chan error, 1),
	}
	go func() {
		s.done <- embedgw.RunVersityGW(gctx, be, &embedgw.Config{
			RootUserAccess:    cfg.AccessKey,
			RootUserSecret:    cfg.SecretKey,
			Region:            cfg.Region,
			Ports:             []string{addr},
			MaxConnections:    4096,
			MaxRequests:       2048,
			MultipartMaxParts: 10000,
			Quiet:             true,
			KeepAlive:         true,
			HealthPath:        "/_turnin_health",
		})
		be.Shutdown()
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/_turnin_health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("s3embed: gateway stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("s3embed: gateway did not answer within 30s")
		}
	}
}

// Close stops the gateway and waits for it to finish.
func (s *Server) Close() error {
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("s3embed: gateway did not stop within 10s")
	}
}

func freeAddr() (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("s3embed: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
