package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnin-dev/turnin/platform/kafka"
	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// Defaults for Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultMaxBodyBytes    = 64 << 10
	DefaultMaxJSONDepth    = 8
	DefaultMaxInFlight     = 4096
	DefaultMaxObjectSize   = 1 << 30
	DefaultRetryAfter      = 2 * time.Second
	DefaultRefreshInterval = 2 * time.Second
	DefaultProduceTimeout  = 5 * time.Second
	DefaultStatTimeout     = 2 * time.Second
)

// Config configures the API server. Zero fields take their defaults.
type Config struct {
	// Addr is the listening address. Defaults to 127.0.0.1:8080.
	Addr string
	// PublicURL is the base of the status_url in receipts, e.g.
	// https://turnin.example.edu. Defaults to a path relative to the request's host.
	PublicURL string
	// MaxBodyBytes bounds request bodies. Defaults to 64 KiB.
	MaxBodyBytes int64
	// MaxJSONDepth bounds JSON nesting. Defaults to 8.
	MaxJSONDepth int
	// MaxInFlight bounds submissions being accepted at once; past it the
	// API answers 503 at once rather than queueing. Defaults to 4096.
	MaxInFlight int
	// MaxObjectSize bounds the declared size of an upload. Defaults to 1 GiB.
	MaxObjectSize int64
	// RetryAfter is the Retry-After sent with every 503. Defaults to 2s.
	RetryAfter time.Duration
	// RefreshInterval is how often the key and assignment snapshots are
	// reloaded; a revoked key stops working within it. Defaults to 2s.
	RefreshInterval time.Duration
	// ProduceTimeout bounds the wait for the broker's acknowledgement.
	// Defaults to 5s.
	ProduceTimeout time.Duration
	// StatTimeout bounds the HEAD on the object store. Defaults to 2s.
	StatTimeout time.Duration
	// ObjectCheck says how the accept path checks the uploaded object.
	// Defaults to ObjectCheckHead.
	ObjectCheck ObjectCheck
	// AcceptMode is AcceptQueue, turnin itself, or AcceptSync, the
	// synchronous comparison baseline. Defaults to AcceptQueue.
	AcceptMode AcceptMode
	// ReceiptKeyID and ReceiptKey sign receipts. Required.
	ReceiptKeyID string
	ReceiptKey   ed25519.PrivateKey
	// SessionKey signs dashboard session cookies; give every instance
	// behind one address the same key. Defaults to random bytes per
	// process: sessions end when the process restarts.
	SessionKey []byte
	// SessionTTL is how long a dashboard sign-in lasts. Defaults to 12h.
	SessionTTL time.Duration
	// BacklogTTL is how long one backlog measurement is reused by the
	// dashboard. Defaults to 2s.
	BacklogTTL time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxJSONDepth == 0 {
		c.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = DefaultMaxObjectSize
	}
	def(&c.RetryAfter, DefaultRetryAfter)
	def(&c.RefreshInterval, DefaultRefreshInterval)
	def(&c.ProduceTimeout, DefaultProduceTimeout)
	def(&c.StatTimeout, DefaultStatTimeout)
	def(&c.SessionTTL, DefaultSessionTTL)
	def(&c.BacklogTTL, DefaultBacklogTTL)
	if len(c.SessionKey) == 0 {
		c.SessionKey = make([]byte, 32)
		_, _ = rand.Read(c.SessionKey) // crypto/rand.Read never fails on supported platforms
	}
	if c.ObjectCheck == "" {
		c.ObjectCheck = ObjectCheckHead
	}
	if c.AcceptMode == "" {
		c.AcceptMode = AcceptQueue
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case len(c.ReceiptKey) != ed25519.PrivateKeySize:
		return errors.New("api: ReceiptKey: an Ed25519 private key is required to sign receipts")
	case c.ReceiptKeyID == "":
		return errors.New("api: ReceiptKeyID: required")
	case c.MaxBodyBytes < 1024:
		return errors.New("api: MaxBodyBytes: at least 1024")
	case c.MaxJSONDepth < 2:
		return errors.New("api: MaxJSONDepth: at least 2")
	case c.MaxInFlight < 1:
		return errors.New("api: MaxInFlight: must be positive")
	case c.RetryAfter < time.Second:
		return errors.New("api: RetryAfter: at least 1s (it is sent in whole seconds)")
	case len(c.SessionKey) < 32:
		return errors.New("api: SessionKey: at least 32 bytes")
	case c.ProduceTimeout <= 0 || c.StatTimeout <= 0 || c.RefreshInterval <= 0 || c.SessionTTL <= 0 || c.BacklogTTL <= 0:
		return errors.New("api: timeouts and intervals must be positive")
	case c.AcceptMode != AcceptQueue && c.AcceptMode != AcceptSync:
		return fmt.Errorf("api: AcceptMode: %q is neither %q nor %q", c.AcceptMode, AcceptQueue, AcceptSync)
	case c.ObjectCheck != ObjectCheckHead && c.ObjectCheck != ObjectCheckDeferred:
		return fmt.Errorf("api: ObjectCheck: %q is neither %q nor %q", c.ObjectCheck, ObjectCheckHead, ObjectCheckDeferred)
	}
	return nil
}

// ObjectCheck is how the accept path makes sure the file is in storage.
type ObjectCheck string

const (
	// ObjectCheckHead makes one HEAD request per submission: a missing
	// object, or one of another size or checksum, is refused with a 422
	// before anything is written. The default.
	ObjectCheckHead ObjectCheck = "head"
	// ObjectCheckDeferred skips the HEAD: the accept path does no
	// object-store I/O at all, and the consumer's verify step (which streams
	// the object and checks its SHA-256) is what catches a missing or wrong
	// object — dead-lettered as object_missing or checksum_mismatch instead
	// of refused. For floods beyond what the store answers HEADs for; keep
	// verification on in the consumer when using it.
	ObjectCheckDeferred ObjectCheck = "deferred"
)

// AcceptMode is how POST /v1/submissions records a submission.
type AcceptMode string

const (
	// AcceptQueue produces the event to the log (acks=all) and answers
	// 202; consumers write the database later. turnin. The default.
	AcceptQueue AcceptMode = "queue"
	// AcceptSync is the comparison baseline — the essay's naive path: one
	// transaction writes the submission, the enrollment row and the hot
	// per-assignment counter before the answer, and the API answers 200
	// with the state processed. It touches PostgreSQL on every request, by
	// design: it exists to be measured against the queue, never to run a
	// deadline.
	AcceptSync AcceptMode = "sync"
)

// Deps are the parts the server runs on.
type Deps struct {
	// Producer writes submission events. It must be built with
	// platform/kafka's producer options (acks=all, idempotent, bounded).
	Producer *kgo.Client
	// Topic is the submissions topic.
	Topic string
	// Store is the object store uploads go to.
	Store *objstore.Store
	// DB is read by the snapshot refresh and written by the assignment
	// endpoints; the accept path never uses it.
	DB *pgxpool.Pool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil makes a private one.
	Registry *prometheus.Registry
	// Backlog measures the consumers' backlog for the dashboard (see
	// kafka.MeasureBacklog); nil leaves the backlog unknown.
	Backlog func(context.Context) (*kafka.Backlog, error)
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	e        *echo.Echo
	producer *kgo.Client
	topic    string
	store    *objstore.Store
	db       *pgxpool.Pool
	log      *slog.Logger
	snap     snapshots
	inflight chan struct{}
	metrics  *metrics
	registry *prometheus.Registry
	now      func() time.Time
	backlog  *backlogCache
	counts   ttlCache[pgstore.AssignmentKey, pgstore.Counts]
	pages    *pages
}

// New builds a server. Call Run to load the snapshots and serve.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Producer == nil || deps.Store == nil || deps.DB == nil || deps.Topic == "" {
		return nil, errors.New("api: Producer, Topic, Store and DB are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		cfg: cfg, producer: deps.Producer, topic: deps.Topic, store: deps.Store, db: deps.DB,
		log: deps.Logger.With("component", "api"), inflight: make(chan struct{}, cfg.MaxInFlight),
		registry: deps.Registry, now: time.Now,
		backlog: newBacklogCache(deps.Backlog, cfg.BacklogTTL),
	}
	s.counts = ttlCache[pgstore.AssignmentKey, pgstore.Counts]{ttl: DefaultCountsTTL,
		load: func(ctx context.Context, k pgstore.AssignmentKey) (pgstore.Counts, error) {
			return pgstore.AssignmentCounts(ctx, s.db, k.Tenant, k.Assignment)
		}}
	var err error
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(deps.Registry, s)
	s.e = s.routes()
	return s, nil
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.RequestID())
	e.Use(s.observe)
	e.Use(s.recoverer)

	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", echo.WrapHandler(s.metricsHandler()))

	// Middleware per route, not on the group: a group's middleware makes
	// echo answer a wrong method with 404 instead of 405.
	auth := s.authenticate
	e.POST("/v1/uploads", s.handleUpload, auth)
	e.POST("/v1/submissions", s.handleSubmit, auth, s.limitInFlight)
	e.PUT("/v1/assignments/:assignment_id", s.handlePutAssignment, auth)
	e.GET("/v1/assignments/:assignment_id", s.handleGetAssignment, auth)
	// The dashboard's pages poll the read endpoints with their session.
	read := s.authenticateRead
	e.GET("/v1/submissions/:receipt_id", s.handleStatus, read)
	e.GET("/v1/assignments/:assignment_id/submissions", s.handleList, read)
	e.GET("/v1/submissions/:receipt_id/timeline", s.handleTimeline, read)
	e.GET("/v1/assignments/:assignment_id/overview", s.handleOverview, read)
	e.GET("/v1/assignments/:assignment_id/dead-letters", s.handleDeadLetters, read)
	e.POST("/v1/receipts/verify", s.handleVerifyReceipt, auth)
	s.dashboardRoutes(e)
	return e
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.e }

// Load fills the snapshots once; Run calls it, tests may call it directly.
func (s *Server) Load(ctx context.Context) error {
	if err := s.refresh(ctx); err != nil {
		return fmt.Errorf("api: load tenants and assignments: %w", err)
	}
	return nil
}

// Run loads the snapshots, keeps them fresh and serves on ln until ctx
// ends, then shuts down gracefully: in-flight requests finish.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if err := s.Load(ctx); err != nil {
		ln.Close()
		if ctx.Err() != nil {
			return nil // asked to stop before serving: not a failure
		}
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.refreshLoop(rctx)
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.cfg.ProduceTimeout + s.cfg.StatTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), s.cfg.ProduceTimeout+5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// authenticate resolves the bearer key to a tenant through the snapshot.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, key, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="turnin"`)
			return schema.NewError(schema.CodeUnauthenticated, "send Authorization: Bearer <api key>")
		}
		if !s.snap.loaded() {
			return schema.NewError(schema.CodeDatabaseUnavailable, "API keys are not loaded yet")
		}
		tenant, ok := s.snap.tenantFor(pgstore.HashAPIKey(strings.TrimSpace(key)))
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="turnin", error="invalid_token"`)
			return schema.NewError(schema.CodeInvalidAPIKey, "API key unknown or revoked")
		}
		c.Set(tenantKey, tenant)
		return next(c)
	}
}

const tenantKey = "turnin.tenant"

func tenantOf(c echo.Context) string { return c.Get(tenantKey).(string) }

// limitInFlight answers 503 at once when MaxInFlight submissions are
// already being accepted: a bounded server degrades, it does not queue.
func (s *Server) limitInFlight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		select {
		case s.inflight <- struct{}{}:
		default:
			s.metrics.rejected.WithLabelValues("inflight").Inc()
			return schema.NewError(schema.CodeOverloaded, "too many submissions in flight; retry with the same Idempotency-Key")
		}
		defer func() { <-s.inflight }()
		return next(c)
	}
}

// recoverer turns a panic into a 500 with the internal code, and logs it.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(r)
				}
				err = &schema.Error{Code: schema.CodeInternal, Message: "internal error", Err: fmt.Errorf("panic: %v", r)}
			}
		}()
		return next(c)
	}
}

func (s *Server) retryAfterSeconds() int {
	return int((s.cfg.RetryAfter + time.Second - 1) / time.Second)
}
