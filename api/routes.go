package api

import (
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// Route is one endpoint the server answers: an HTTP method and a path
// template written the way the OpenAPI document writes it, with
// parameters in braces ("/v1/assignments/{assignment_id}").
type Route struct {
	Method string
	Path   string
}

// Routes lists the endpoints the server registers, sorted by path then
// method. The catch-all routes echo adds so that group middleware also runs
// for unknown paths are not endpoints and are left out. The contract test
// compares this list with the OpenAPI document in schema.
func (s *Server) Routes() []Route {
	var out []Route
	seen := map[Route]bool{}
	for _, r := range s.e.Routes() {
		if r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") {
			continue
		}
		rt := Route{Method: r.Method, Path: openAPIPath(r.Path)}
		if !seen[rt] {
			seen[rt] = true
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// openAPIPath rewrites echo's ":param" segments as "{param}".
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}
