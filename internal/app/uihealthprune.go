package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/rules"
)

// healthGrace is how long a health record whose check no rules name is
// kept: a service a generator adds, or a check a pushed configuration
// renames, may be reported before the page has read the new head.
const healthGrace = time.Hour

// pruneHealth deletes the health records that no current rules name: the
// webhook records every base-branch report of a repository whose services
// a generator makes (it cannot render their names), so without pruning
// per-run CI contexts would add keys forever. A record is judged by the
// rules each repository's matrix was built with (the page's, one head
// old at most); a repository whose rules are unknown here is left alone.
// Age is no criterion: a healthy production may not report for months.
func (s *uiSource) pruneHealth(ctx context.Context) {
	if s.live == nil || s.live.kv == nil {
		return
	}
	named := map[string]map[string]bool{} // lower-case repository → check names
	s.mu.Lock()
	for lk, b := range s.built {
		if b.rules != nil && b.err == nil {
			named[lk] = healthNamesOf(b.rules, b.rp.Repo)
		}
	}
	s.mu.Unlock()
	cutoff := s.now().Add(-healthGrace)
	for key, r := range s.live.healthRecords() {
		names, known := named[strings.ToLower(r.Repo)]
		if !known || names[r.Check] || !r.At.Before(cutoff) {
			continue
		}
		err := s.live.kv.Delete(ctx, key)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn().Err(err).Str("repo", r.Repo).Str("check", r.Check).Msg("ui: health record of an unnamed check not deleted; the next refresh tries again")
			continue
		}
		s.log.Debug().Str("repo", r.Repo).Str("check", r.Check).Msg("ui: health record of a check no rules name deleted")
	}
}

// healthNamesOf renders every health check name of repo's services.
func healthNamesOf(rs *rules.Rules, repo string) map[string]bool {
	out := map[string]bool{}
	for i := range rs.Services {
		svc := &rs.Services[i]
		if !strings.EqualFold(svc.Repo, repo) {
			continue
		}
		for _, env := range rs.EnvNames() {
			names, err := rs.HealthChecks(svc.Name, env)
			if err != nil {
				continue // a template that does not render names no check
			}
			for _, n := range names {
				out[n] = true
			}
		}
	}
	return out
}

// healthRecords is a copy of the health records by KV key.
func (b *liveBoard) healthRecords() map[string]healthRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]healthRecord, len(b.health))
	for k, r := range b.health {
		out[k] = r
	}
	return out
}
