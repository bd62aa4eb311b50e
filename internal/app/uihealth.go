package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// Health on the status page. The webhook turns every report of a health
// check on a GitOps repository's base branch into a health intent; the
// worker keeps the latest report of each (repository, check) in the state
// bucket under "ui.health." (healthStore); the page's liveBoard watches it
// and computes each cell's health per request (cellHealth), so a report
// shows without a new commit and the page never calls GitHub.

const liveHealth = "ui.health."

// Health states of a cell and of each of its checks.
const (
	healthHealthy     = "healthy"
	healthUnhealthy   = "unhealthy"
	healthProgressing = "progressing"
	healthUnknown     = "unknown"
)

// healthRecord is the latest report of one health check of a repository.
type healthRecord struct {
	Repo  string    `json:"repo"`
	Check string    `json:"check"`
	State string    `json:"state"` // success, failure, error, pending
	URL   string    `json:"url,omitempty"`
	SHA   string    `json:"sha"`
	At    time.Time `json:"at"` // GitHub's time of the report
}

// healthKey is the record's key; check names are case-sensitive on
// GitHub, repository names are not.
func healthKey(repo, check string) string {
	return liveHealth + queue.EscapeKey(strings.ToLower(repo)+"/"+check)
}

// maxHealthWrites bounds the attempts of one write that loses races with
// other workers writing the same check.
const maxHealthWrites = 5

// healthStore keeps the health records in the state bucket
// (worker.HealthRecords).
type healthStore struct{ kv jetstream.KeyValue }

// Record writes the report unless the record holds a later one (by
// GitHub's time); of two with the same time, the one that arrives last
// wins. Every write names the revision it replaces, so two workers
// writing the same check never lose the later report.
func (s healthStore) Record(ctx context.Context, repo, sha string, c intent.Check) (bool, error) {
	rec := healthRecord{Repo: repo, Check: c.Name, State: c.State, URL: c.URL, SHA: sha, At: c.At.UTC()}
	data, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encode health record: %w", err)
	}
	key := healthKey(repo, c.Name)
	for range maxHealthWrites {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			_, err = s.kv.Create(ctx, key, data)
		case err != nil:
			return false, fmt.Errorf("read health record: %w", err)
		default:
			var old healthRecord
			if json.Unmarshal(e.Value(), &old) == nil {
				switch {
				case rec.At.Before(old.At):
					return false, nil
				case rec.At.Equal(old.At) && rec.State == "pending" && old.State != "pending":
					// GitHub's times are whole seconds: a pending report
					// and its outcome in one second arrive in any order.
					return false, nil
				case rec == old:
					return true, nil // a redelivery: kept already
				}
			}
			_, err = s.kv.Update(ctx, key, data, e.Revision())
		}
		if err == nil {
			return true, nil
		}
		if !queue.CASConflict(err) {
			return false, fmt.Errorf("write health record: %w", err)
		}
		// Another worker wrote it meanwhile: read it again.
	}
	return false, fmt.Errorf("write health record: %d concurrent writes won", maxHealthWrites)
}

// applyHealth keeps the board's copy of one health record; the caller
// holds b.mu.
func (b *liveBoard) applyHealth(key string, op jetstream.KeyValueOp, value []byte) {
	if op != jetstream.KeyValuePut {
		delete(b.health, key)
		return
	}
	var r healthRecord
	if err := json.Unmarshal(value, &r); err != nil {
		b.log.Warn().Err(err).Str("key", key).Msg("ui: unreadable health record ignored")
		return
	}
	if b.health == nil {
		b.health = map[string]healthRecord{}
	}
	b.health[key] = r
}

// cellHealth is the health of service in c.Env of repo under rs, from
// the records the board holds: "" and no checks where the environment has
// no health checks.
func (b *liveBoard) cellHealth(rs *rules.Rules, repo, service string, c ui.Cell) (string, []ui.HealthCheck) {
	names, err := b.names.of(rs, service, c.Env)
	if err != nil {
		// validated at load; a name that does not render is not known
		b.log.Debug().Err(err).Str("repo", repo).Str("service", service).Str("env", c.Env).Msg("ui: health checks not rendered")
		return healthUnknown, nil
	}
	if len(names) == 0 {
		return "", nil
	}
	checks := make([]ui.HealthCheck, 0, len(names))
	worst := healthHealthy
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		hc := ui.HealthCheck{Name: name, State: healthUnknown}
		if r, ok := b.health[healthKey(repo, name)]; ok {
			hc.Reported, hc.URL, hc.At = r.State, r.URL, r.At
			hc.State = checkHealth(r, c.Since)
		}
		if healthRank(hc.State) > healthRank(worst) {
			worst = hc.State
		}
		checks = append(checks, hc)
	}
	return worst, checks
}

// healthNames caches the rendered health check names of each service and
// environment for one version of the rules (templates render once, not on
// every request).
// healthNames caches the rendered check names per rules value: the page
// shows repositories with different rules (their own files, generators
// expanded per head), each asked on every request.
type healthNames struct {
	mu    sync.Mutex
	names map[*rules.Rules]map[[2]string][]string
}

// maxNamedRules bounds the rules values kept; past it the cache starts
// over (a rules reload or many new heads), which costs one rendering.
const maxNamedRules = 256

func (n *healthNames) of(rs *rules.Rules, service, env string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	byRules := n.names[rs]
	if byRules == nil {
		if n.names == nil || len(n.names) >= maxNamedRules {
			n.names = map[*rules.Rules]map[[2]string][]string{}
		}
		byRules = map[[2]string][]string{}
		n.names[rs] = byRules
	}
	k := [2]string{service, env}
	if names, ok := byRules[k]; ok {
		return names, nil
	}
	names, err := rs.HealthChecks(service, env)
	if err == nil {
		byRules[k] = names
	}
	return names, err
}

// checkHealth is one check's share of a cell's health: a report from
// before the tag arrived is about an earlier version, so what runs now has
// not been reported yet.
func checkHealth(r healthRecord, since time.Time) string {
	switch {
	case r.At.Before(since):
		return healthProgressing
	case r.State == "success":
		return healthHealthy
	case r.State == "failure" || r.State == "error":
		return healthUnhealthy
	}
	return healthProgressing
}

// healthRank orders the states: the worst check decides the cell.
func healthRank(state string) int {
	switch state {
	case healthUnhealthy:
		return 3
	case healthProgressing:
		return 2
	case healthUnknown:
		return 1
	}
	return 0
}
