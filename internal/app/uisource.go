package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/drift"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// uiSource is the status page's data: each GitOps repository's history as
// its mirror holds it (walked once per head commit, internal/history), and
// the open PRs and closed gates the workers record in KV (liveBoard). It
// never calls GitHub: the workers and push events keep the mirrors current.
//
// A repository's matrix is built once per head, rules and minute
// (uirepos.go). A request that finds a newer head, or an older minute,
// shows the matrix it has, marked "updating", and has it rebuilt in the
// background: a request never walks history, except the very first one of
// a repository.
type uiSource struct {
	rules   func() *rules.Rules
	mirrors *gitmirror.Mirrors
	cache   *history.Cache
	live    *liveBoard
	webURL  string // GitHub's web address, for PR and repository links
	now     func() time.Time
	log     zerolog.Logger
	// configured lists the repositories configured by their own file
	// (the repository configuration index); nil: the rules' only.
	configured configuredRepos
	// configs reads a repository's own configuration at a commit, merged
	// with the server's policy; nil: the server's rules decide everywhere.
	configs rulesAt
	// expansions caches generator expansions per repository and commit.
	expansions rules.Expansions
	// bg is the context of background rebuilds (the app's); nil: Background.
	bg context.Context
	// health is a cell's health state and the checks behind it under the
	// rules ("" where the environment has no health checks), computed per
	// request (withLive); nil: the live board's (uihealth.go).
	health func(rs *rules.Rules, repo, service string, c ui.Cell) (string, []ui.HealthCheck)
	// walk returns a repository's history; nil: its mirror's (history).
	walk func(ctx context.Context, rs *rules.Rules, repo string) (*history.History, error)

	// freshWait bounds a request's wait for a rebuild; 0: freshWait
	// (uirepos.go), negative: none (tests).
	freshWait time.Duration

	mu         sync.Mutex
	built      map[string]builtRepo // lower-case repository → its matrix at one head
	rebuilding map[string]*rebuild
	locs       map[string]locCache // lower-case repository → where it was last located
	sem        chan struct{}       // bounds the rebuilds walking at once
	closed     bool                // shutting down: no new rebuilds
	wg         sync.WaitGroup      // background rebuilds
}

// builtRepo is a repository's matrix without the live records, with the
// rules and history it was built from, reused while its key (rules and
// head) is the same, for up to builtTTL (the lag flag depends on the time).
type builtRepo struct {
	key   string
	at    time.Time
	rp    ui.Repository
	rules *rules.Rules
	h     *history.History
	err   error // the repository is unreadable (rp says so)
}

const builtTTL = time.Minute

// repos returns the GitOps repositories the rules name, sorted.
func reposOf(rs *rules.Rules) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range rs.Services {
		k := strings.ToLower(s.Repo)
		if s.Repo != "" && !seen[k] {
			seen[k] = true
			out = append(out, s.Repo)
		}
	}
	sort.Strings(out)
	return out
}

func baseBranch(rs *rules.Rules) string {
	if rs.Defaults.BaseBranch != "" {
		return rs.Defaults.BaseBranch
	}
	return "main"
}

func (s *uiSource) prURL(repo string, n int) string {
	if n == 0 || s.webURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/pull/%d", s.webURL, repo, n)
}

// Status is every configured repository's matrix.
func (s *uiSource) Status(ctx context.Context) (ui.Status, error) {
	rs := s.rules()
	st := ui.Status{GeneratedAt: s.now().UTC(), Repositories: []ui.Repository{}}
	if rs == nil {
		return st, errors.New("no rules")
	}
	for _, b := range s.matrices(ctx, rs, s.repos(rs)) {
		st.Repositories = append(st.Repositories, s.withLive(b.rp, b.rules))
	}
	return st, nil
}

// withLive returns a copy of rp with the open PRs, closed gates and
// health reports the workers recorded (the built matrix is shared and
// never changed).
func (s *uiSource) withLive(rp ui.Repository, rs *rules.Rules) ui.Repository {
	if s.live == nil {
		return rp
	}
	health := s.health
	if health == nil {
		health = s.live.cellHealth
	}
	svcs := make([]ui.Service, len(rp.Services))
	for i, svc := range rp.Services {
		cells := make([]ui.Cell, len(svc.Cells))
		for j, c := range svc.Cells {
			c.OpenPRs, c.Waiting, c.Failed = nil, nil, nil
			recs := s.live.records(rp.Repo, svc.Name, c.Env)
			var newest time.Time // the latest promotion with a PR or a wait
			for _, r := range recs {
				if !r.Failed && r.Created.After(newest) {
					newest = r.Created
				}
			}
			for _, r := range recs {
				switch {
				case r.Failed: // uidead.go; moot once the environment runs its tag, or a later promotion came
					if (r.Tag == "" || r.Tag != c.Tag) && (r.Created.IsZero() || !c.Since.After(r.Created) && !newest.After(r.Created)) {
						c.Failed = append(c.Failed, ui.Failure{Tag: r.Tag, Reason: r.Reason, At: r.At})
					}
				case r.PR != 0 && r.PR != c.PR && (r.Tag == "" || r.Tag != c.Tag):
					c.OpenPRs = append(c.OpenPRs, ui.PRRef{Number: r.PR, URL: r.PRURL, Tag: r.Tag})
				case r.PR == 0 && r.Reason != "" && (r.Tag == "" || r.Tag != c.Tag):
					c.Waiting = append(c.Waiting, ui.Wait{Tag: r.Tag, Gate: r.Gate, Reason: r.Reason, OpensAt: r.OpensAt, Since: r.At})
				}
			}
			c.Health, c.HealthChecks = "", nil
			if rs != nil {
				c.Health, c.HealthChecks = health(rs, rp.Repo, svc.Name, c)
			}
			cells[j] = c
		}
		svcs[i] = ui.Service{Name: svc.Name, Cells: cells}
	}
	rp.Services = svcs
	return rp
}

func (s *uiSource) repository(rs *rules.Rules, repo string, h *history.History, herr error) ui.Repository {
	rp := ui.Repository{Repo: repo, Environments: rs.EnvNames(), Services: []ui.Service{}}
	if s.webURL != "" {
		rp.URL = s.webURL + "/" + repo
	}
	if h != nil {
		rp.Head = h.Head
	}
	var svcs []*rules.Service
	for i := range rs.Services {
		if strings.EqualFold(rs.Services[i].Repo, repo) {
			svcs = append(svcs, &rs.Services[i])
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	flags := map[[2]string][]ui.Drift{}
	cur := map[[2]string]history.Current{}
	if h != nil {
		for _, c := range h.Current {
			if _, dup := cur[[2]string{c.Service, c.Env}]; !dup {
				cur[[2]string{c.Service, c.Env}] = c
			}
		}
		for _, f := range drift.Check(h, rs, s.now()) {
			k := [2]string{f.Service, f.Env}
			flags[k] = append(flags[k], ui.Drift{Kind: string(f.Kind), Message: f.Message})
		}
	}
	for _, svc := range svcs {
		row := ui.Service{Name: svc.Name}
		for _, env := range rp.Environments {
			if len(svc.Targets[env]) == 0 {
				continue
			}
			c := s.cell(repo, svc.Name, env, h, herr, cur)
			c.Drift = flags[[2]string{svc.Name, env}]
			row.Cells = append(row.Cells, c)
		}
		rp.Services = append(rp.Services, row)
	}
	return rp
}

func (s *uiSource) cell(repo, svc, env string, h *history.History, herr error, cur map[[2]string]history.Current) ui.Cell {
	c := ui.Cell{Env: env}
	switch {
	case herr != nil:
		c.Error = "history unreadable"
	case h == nil:
		c.Error = "not fetched yet"
	default:
		if now, ok := cur[[2]string{svc, env}]; ok {
			c.Tag, c.Digest, c.Since, c.Commit, c.PromotedBy, c.Error = now.Tag, now.Digest, now.Since, now.Commit, now.By, now.Error
			if now.Via == history.ViaPR {
				c.PR, c.PRURL = now.PR, s.prURL(repo, now.PR)
			}
		}
	}
	return c
}

// Timeline is one service's changes, newest first.
func (s *uiSource) Timeline(ctx context.Context, repo, service string) ([]ui.Change, bool, error) {
	server := s.rules()
	if server == nil {
		return nil, false, errors.New("no rules")
	}
	name := ""
	for _, r := range s.repos(server) {
		if strings.EqualFold(r, repo) {
			name = r
		}
	}
	if name == "" {
		return nil, false, nil
	}
	b := s.get(ctx, server, name)
	svc, ok := b.rules.Service(service)
	if !ok || !strings.EqualFold(svc.Repo, name) {
		return nil, false, nil
	}
	if b.h == nil {
		return []ui.Change{}, true, b.err
	}
	changes := b.h.Service(service)
	out := make([]ui.Change, 0, len(changes))
	for _, c := range changes {
		uc := ui.Change{Time: c.Time, Env: c.Env, Commit: c.Commit, From: c.From, To: c.To, How: string(c.Via),
			PR: c.PR, Requester: c.Requester, Ticket: c.Ticket}
		if uc.Requester == "" {
			uc.Requester = c.Author.Name
		}
		uc.PRURL = s.prURL(svc.Repo, c.PR)
		if c.Ticket != "" {
			if u, err := b.rules.TicketURL(service, c.Env, c.Ticket); err == nil {
				uc.TicketURL = u
			}
		}
		out = append(out, uc)
	}
	return out, true, nil
}
