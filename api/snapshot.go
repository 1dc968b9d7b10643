package api

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/turnin-dev/turnin/platform/pgstore"
	"github.com/turnin-dev/turnin/schema"
)

// snapshots hold what the accept path needs from PostgreSQL — API keys and
// assignments — in memory, replaced whole by a background refresh. A
// request reads one atomic pointer; it never queries the database, so a
// database outage or a slow query cannot slow the flood down.
type snapshots struct {
	keys        atomic.Pointer[map[[32]byte]string]
	assignments atomic.Pointer[map[pgstore.AssignmentKey]*schema.Assignment]
	loadedAt    atomic.Int64 // unix nanos of the last successful refresh
}

func (s *snapshots) tenantFor(keyHash [32]byte) (string, bool) {
	m := s.keys.Load()
	if m == nil {
		return "", false
	}
	t, ok := (*m)[keyHash]
	return t, ok
}

func (s *snapshots) assignment(tenant, id string) *schema.Assignment {
	m := s.assignments.Load()
	if m == nil {
		return nil
	}
	return (*m)[pgstore.AssignmentKey{Tenant: tenant, Assignment: id}]
}

func (s *snapshots) loaded() bool { return s.keys.Load() != nil && s.assignments.Load() != nil }

// putAssignment installs one assignment in the current snapshot at once,
// so the instance that accepted a PUT judges by it without waiting for the
// next refresh. Copy-on-write: readers never see a map being changed.
func (s *snapshots) putAssignment(a *schema.Assignment) {
	for {
		old := s.assignments.Load()
		next := map[pgstore.AssignmentKey]*schema.Assignment{}
		if old != nil {
			for k, v := range *old {
				next[k] = v
			}
		}
		next[pgstore.AssignmentKey{Tenant: a.TenantID, Assignment: a.AssignmentID}] = a
		if s.assignments.CompareAndSwap(old, &next) {
			return
		}
	}
}

// refresh reloads both snapshots from the database.
func (s *Server) refresh(ctx context.Context) error {
	keys, err := pgstore.ActiveAPIKeys(ctx, s.db)
	if err != nil {
		return err
	}
	as, err := pgstore.AllAssignments(ctx, s.db)
	if err != nil {
		return err
	}
	s.snap.keys.Store(&keys)
	s.snap.assignments.Store(&as)
	s.snap.loadedAt.Store(time.Now().UnixNano())
	return nil
}

// refreshLoop refreshes every interval until ctx ends, logging failures
// once per outage rather than once per tick.
func (s *Server) refreshLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RefreshInterval*4)
		err := s.refresh(rctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			s.log.Warn("snapshot refresh failing; serving the last snapshot", "err", err)
		case err == nil && failing:
			failing = false
			s.log.Info("snapshot refresh recovered")
		}
	}
}
