package api

import (
	"net/http/httptest"
	"testing"
)

// TestSameOrigin: a form post is accepted from the host it was sent to, or
// — behind a proxy that rewrites Host — from the configured public URL's
// scheme and host; from anywhere else it is refused.
func TestSameOrigin(t *testing.T) {
	direct := &Server{cfg: Config{}}
	proxied := &Server{cfg: Config{PublicURL: "https://turnin.example.edu"}}
	for _, c := range []struct {
		s               *Server
		origin, referer string
		want            bool
	}{
		{direct, "http://127.0.0.1:8080", "", true},
		{direct, "", "http://127.0.0.1:8080/dashboard/assignments/hw1", true},
		{direct, "", "", true}, // not a browser: the CSRF token decides
		{direct, "https://turnin.example.edu", "", false},
		{direct, "null", "", false},
		{proxied, "https://turnin.example.edu", "", true},
		{proxied, "", "https://turnin.example.edu/dashboard", true},
		{proxied, "http://turnin.example.edu", "", false}, // scheme differs
		{proxied, "https://turnin.example.edu.evil.example", "", false},
		{proxied, "https://evil.example", "", false},
		{proxied, "http://127.0.0.1:8080", "", true},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/dashboard/signin", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.referer != "" {
			r.Header.Set("Referer", c.referer)
		}
		if got := c.s.sameOrigin(r); got != c.want {
			t.Errorf("public URL %q, Origin %q, Referer %q: %v, want %v", c.s.cfg.PublicURL, c.origin, c.referer, got, c.want)
		}
	}
}
