package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/turnin-dev/turnin/platform/pgstore"
)

// Dashboard sessions. A browser cannot send the tenant's API key as a
// header on page loads, so the sign-in form takes the key once and sets a
// cookie: HttpOnly (no script reads it), SameSite=Strict (no other site
// sends it), signed with the server's session key (no one forges it). The
// cookie names the key by its digest, and every request looks the digest
// up in the key snapshot, so revoking the key ends its sessions within a
// refresh interval. Each session carries a random CSRF token that every
// POST form must echo.

const (
	sessionCookie = "turnin_session"
	// DefaultSessionTTL is how long a dashboard session lasts.
	DefaultSessionTTL = 12 * time.Hour
)

type session struct {
	Tenant  string `json:"t"`
	KeyHash []byte `json:"h"`
	// KeyPrefix is the key's first characters, to say which key acted.
	KeyPrefix string `json:"p"`
	// Staff is the name the user gave at sign-in, recorded on every action.
	Staff   string `json:"n"`
	Expires int64  `json:"e"`
	CSRF    string `json:"c"`
}

// actor is how audit rows name who acted from the dashboard.
func (ss *session) actor() string {
	return ss.Staff + " (dashboard, key " + ss.KeyPrefix + "…)"
}

func (s *Server) sign(payload []byte) string {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) unsign(v string) ([]byte, bool) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write(payload)
	return payload, hmac.Equal(got, m.Sum(nil))
}

// newSession signs in with an API key; false when the key is unknown.
func (s *Server) newSession(c echo.Context, key, staff string) bool {
	key = strings.TrimSpace(key)
	h := pgstore.HashAPIKey(key)
	tenant, ok := s.snap.tenantFor(h)
	if !ok {
		return false
	}
	prefix := key
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	ss := session{Tenant: tenant, KeyHash: h[:], KeyPrefix: prefix, Staff: staff,
		Expires: s.now().Add(s.cfg.SessionTTL).Unix(), CSRF: base64.RawURLEncoding.EncodeToString(tok[:])}
	b, _ := json.Marshal(&ss)
	c.SetCookie(s.cookie(c, s.sign(b), s.cfg.SessionTTL))
	return true
}

func (s *Server) cookie(c echo.Context, value string, ttl time.Duration) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Request().TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://")}
}

func (s *Server) endSession(c echo.Context) { c.SetCookie(s.cookie(c, "", -time.Second)) }

// sessionOf returns the request's valid session, or nil.
func (s *Server) sessionOf(c echo.Context) *session {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	payload, ok := s.unsign(ck.Value)
	if !ok {
		return nil
	}
	var ss session
	if json.Unmarshal(payload, &ss) != nil || len(ss.KeyHash) != 32 || s.now().Unix() >= ss.Expires {
		return nil
	}
	if tenant, ok := s.snap.tenantFor([32]byte(ss.KeyHash)); !ok || tenant != ss.Tenant {
		return nil // the key was revoked
	}
	return &ss
}

const sessionKey = "turnin.session"

// requireSession guards the dashboard's pages: without a session, a GET is
// sent to the sign-in page and anything else is refused. Every POST must
// carry the session's CSRF token and, when the browser says where it comes
// from, come from this origin.
func (s *Server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ss := s.sessionOf(c)
		if ss == nil {
			if c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusSeeOther, "/dashboard/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return s.dashError(c, http.StatusUnauthorized, "Your session has ended. Sign in again.")
		}
		if c.Request().Method == http.MethodPost {
			if !s.sameOrigin(c.Request()) || subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(ss.CSRF)) != 1 {
				return s.dashError(c, http.StatusForbidden, "This form is stale or came from another site. Reload the page and try again.")
			}
		}
		c.Set(tenantKey, ss.Tenant)
		c.Set(sessionKey, ss)
		return next(c)
	}
}

func sessionFrom(c echo.Context) *session { return c.Get(sessionKey).(*session) }

// sameOrigin reports whether a request's Origin (or, lacking it, Referer)
// names the host it was sent to, or the host of the configured public URL
// (behind a proxy that rewrites Host, the browser's origin is the public
// one). Browsers send Origin on every POST.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return true // not a browser; the CSRF token still had to match
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	pub, err := url.Parse(s.cfg.PublicURL)
	return s.cfg.PublicURL != "" && err == nil && u.Scheme == pub.Scheme && u.Host == pub.Host
}

// authenticateRead lets the read endpoints serve the dashboard's pages:
// the bearer key when the request sends one, else the session cookie.
// Only safe methods read a cookie, so no write is open to cross-site
// requests.
func (s *Server) authenticateRead(next echo.HandlerFunc) echo.HandlerFunc {
	bearer := s.authenticate(next)
	return func(c echo.Context) error {
		if c.Request().Header.Get(echo.HeaderAuthorization) == "" && c.Request().Method == http.MethodGet {
			if ss := s.sessionOf(c); ss != nil {
				c.Set(tenantKey, ss.Tenant)
				return next(c)
			}
		}
		return bearer(c)
	}
}
