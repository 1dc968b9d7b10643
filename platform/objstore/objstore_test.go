package objstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnin-dev/turnin/platform/objstore"
	"github.com/turnin-dev/turnin/platform/testenv"
)

func put(t *testing.T, rawURL string, headers map[string]string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func presign(t *testing.T, st *objstore.Store, key string, body []byte) *objstore.PresignedUpload {
	t.Helper()
	sum := sha256.Sum256(body)
	p, err := st.PresignPut(testenv.Ctx(t, 10*time.Second), objstore.Upload{
		Key: key, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), ContentType: "application/pdf",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPresignedPut checks, against the real gateway over HTTP, that an
// upload URL works as issued and is refused when anything about it changes.
func TestPresignedPut(t *testing.T) {
	st, srv := testenv.ObjectStore(t)
	ctx := testenv.Ctx(t, 30*time.Second)
	body := []byte("%PDF-1.7 a real enough file")

	p := presign(t, st, "tenants/t/students/s/a.pdf", body)
	if code := put(t, p.URL, p.Headers, body); code != http.StatusOK {
		t.Fatalf("valid presigned PUT: status %d", code)
	}
	info, err := st.Stat(ctx, "tenants/t/students/s/a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if info.Size != int64(len(body)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stat = %+v", info)
	}

	t.Run("tampered key", func(t *testing.T) {
		p := presign(t, st, "tenants/t/students/s/b.pdf", body)
		u := strings.Replace(p.URL, "/students/s/", "/students/other/", 1)
		if code := put(t, u, p.Headers, body); code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", code)
		}
		assertMissing(t, st, "tenants/t/students/other/b.pdf")
	})
	t.Run("tampered signature", func(t *testing.T) {
		p := presign(t, st, "tenants/t/students/s/c.pdf", body)
		u, _ := url.Parse(p.URL)
		q := u.Query()
		sig := []byte(q.Get("X-Amz-Signature"))
		sig[0] ^= 1
		q.Set("X-Amz-Signature", string(sig))
		u.RawQuery = q.Encode()
		if code := put(t, u.String(), p.Headers, body); code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", code)
		}
		assertMissing(t, st, "tenants/t/students/s/c.pdf")
	})
	t.Run("body does not match checksum", func(t *testing.T) {
		p := presign(t, st, "tenants/t/students/s/d.pdf", body)
		other := append([]byte(nil), body...)
		other[0] = 'X'
		if code := put(t, p.URL, p.Headers, other); code < 400 {
			t.Fatalf("status %d, want a refusal", code)
		}
		assertMissing(t, st, "tenants/t/students/s/d.pdf")
	})
	t.Run("checksum header dropped", func(t *testing.T) {
		p := presign(t, st, "tenants/t/students/s/e.pdf", body)
		h := map[string]string{"Content-Type": p.Headers["Content-Type"]}
		if code := put(t, p.URL, h, body); code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", code)
		}
		assertMissing(t, st, "tenants/t/students/s/e.pdf")
	})
	t.Run("expired", func(t *testing.T) {
		short, err := objstore.New(objstore.Config{
			Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
			Bucket: st.Bucket(), PresignExpiry: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		p := presign(t, short, "tenants/t/students/s/f.pdf", body)
		// Wait on the clock itself, with a deadline, until the URL has expired.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(p.ExpiresAt.Add(1100 * time.Millisecond)) {
			if time.Now().After(deadline) {
				t.Fatal("clock did not advance")
			}
			<-time.After(50 * time.Millisecond)
		}
		if code := put(t, p.URL, p.Headers, body); code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", code)
		}
		assertMissing(t, st, "tenants/t/students/s/f.pdf")
	})
}

func assertMissing(t *testing.T, st *objstore.Store, key string) {
	t.Helper()
	if _, err := st.Stat(testenv.Ctx(t, 10*time.Second), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("stat %s: %v, want ErrNotFound (nothing stored)", key, err)
	}
}
