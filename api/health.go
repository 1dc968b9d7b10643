package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// handleHealthz answers 200 while the process serves HTTP.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyCheck is one line of the readiness report.
type readyCheck struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// handleReadyz answers 200 only when a submission could be accepted now:
// the broker answers and the key and assignment snapshots are loaded.
func (s *Server) handleReadyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
	defer cancel()
	checks := map[string]readyCheck{}
	ready := true
	if err := s.producer.Ping(ctx); err != nil {
		checks["broker"] = readyCheck{Error: "broker unreachable: " + err.Error()}
		ready = false
	} else {
		checks["broker"] = readyCheck{OK: true}
	}
	if s.snap.loaded() {
		checks["snapshots"] = readyCheck{OK: true}
	} else {
		checks["snapshots"] = readyCheck{Error: "API keys and assignments not loaded yet"}
		ready = false
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", strconv.Itoa(s.retryAfterSeconds()))
	}
	return c.JSON(status, map[string]any{"ready": ready, "checks": checks})
}
