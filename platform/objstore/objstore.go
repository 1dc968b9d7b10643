// Package objstore is turnin's S3 client (minio-go behind one small type).
// Students upload straight to object storage with a presigned PUT; the API
// then asks the store, with one HEAD, that the object is there as declared.
package objstore

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Defaults for Config.
const (
	DefaultBucket        = "turnin-submissions"
	DefaultRegion        = "us-east-1"
	DefaultPresignExpiry = 15 * time.Minute
)

// Config configures the object-store client.
type Config struct {
	// Endpoint is the S3 endpoint URL, e.g. http://127.0.0.1:9000. Required.
	Endpoint string
	// AccessKey and SecretKey are the S3 credentials. Required.
	AccessKey, SecretKey string
	// Bucket holds every upload. Defaults to "turnin-submissions".
	Bucket string
	// Region is the signing region. Defaults to "us-east-1".
	Region string
	// PresignExpiry is how long an upload URL stays valid. Defaults to 15m.
	PresignExpiry time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.PresignExpiry == 0 {
		c.PresignExpiry = DefaultPresignExpiry
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("objstore: Endpoint: %q is not an http(s) URL", c.Endpoint)
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("objstore: AccessKey and SecretKey are required")
	case c.PresignExpiry < time.Second || c.PresignExpiry > 7*24*time.Hour:
		return errors.New("objstore: PresignExpiry: must be between 1s and 7 days")
	}
	return nil
}

// Store is a bucket on an S3 endpoint.
type Store struct {
	mc  *minio.Client
	cfg Config
	tr  *http.Transport
}

// New returns a Store. It does not contact the endpoint.
func New(cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Endpoint)
	tr := transport()
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	return &Store{mc: mc, cfg: cfg, tr: tr}, nil
}

// transport keeps enough idle connections for the accept path's HEADs: one
// per concurrent request. minio-go's default keeps 16 per host, so under a
// flood most HEADs would open (and close) a TCP connection of their own.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4096
	t.MaxIdleConnsPerHost = 4096
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.DisableCompression = true
	return t
}

// Close closes the store's idle connections.
func (s *Store) Close() { s.tr.CloseIdleConnections() }

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.mc.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	if ok {
		return nil
	}
	if err := s.mc.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("objstore: create bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

// Upload describes a file a client is about to upload.
type Upload struct {
	Key         string
	Size        int64
	SHA256      string // lowercase hex
	ContentType string
}

// PresignedUpload is what a client needs to upload: the URL, the headers
// the PUT must send exactly as given (they are signed), and the expiry.
type PresignedUpload struct {
	URL       string
	Headers   map[string]string
	ExpiresAt time.Time
}

// PresignPut signs a PUT of u.Key that the store accepts only with the
// declared content type and a body whose SHA-256 is u.SHA256: the checksum
// header is part of the signature, and the store verifies the body against it.
func (s *Store) PresignPut(ctx context.Context, u Upload) (*PresignedUpload, error) {
	sum, err := hex.DecodeString(u.SHA256)
	if err != nil || len(sum) != 32 {
		return nil, errors.New("objstore: SHA256 must be 64 hex digits")
	}
	h := http.Header{}
	h.Set("Content-Type", u.ContentType)
	h.Set("X-Amz-Checksum-Sha256", base64.StdEncoding.EncodeToString(sum))
	now := time.Now()
	signed, err := s.mc.PresignHeader(ctx, http.MethodPut, s.cfg.Bucket, u.Key, s.cfg.PresignExpiry, nil, h)
	if err != nil {
		return nil, fmt.Errorf("objstore: presign: %w", err)
	}
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	return &PresignedUpload{URL: signed.String(), Headers: headers, ExpiresAt: now.Add(s.cfg.PresignExpiry).UTC()}, nil
}

// ObjectInfo is what a HEAD says about an object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	// SHA256 is the stored checksum in lowercase hex, when the store keeps one.
	SHA256 string
}

// ErrNotFound is returned by Stat and Open for a missing object.
var ErrNotFound = errors.New("objstore: no such object")

// Stat returns what the store knows of key: one HEAD request.
func (s *Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := s.mc.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" {
			return ObjectInfo{}, ErrNotFound
		}
		return ObjectInfo{}, fmt.Errorf("objstore: stat %s: %w", key, err)
	}
	info := ObjectInfo{Size: oi.Size, ContentType: oi.ContentType}
	if oi.ChecksumSHA256 != "" {
		if b, err := base64.StdEncoding.DecodeString(strings.SplitN(oi.ChecksumSHA256, "-", 2)[0]); err == nil && len(b) == 32 {
			info.SHA256 = hex.EncodeToString(b)
		}
	}
	return info, nil
}

// Open streams an object's content.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := s.mc.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	if _, err := o.Stat(); err != nil {
		_ = o.Close()
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	return o, nil
}

// Ping checks that the endpoint answers and the bucket exists.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.mc.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	if !ok {
		return fmt.Errorf("objstore: bucket %s does not exist", s.cfg.Bucket)
	}
	return nil
}
