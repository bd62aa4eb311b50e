package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/repoindex"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// configuredRepos lists the repositories that carry their own
// configuration (repoindex.Index).
type configuredRepos interface {
	Configs(server *rules.Rules) (uint64, []repoindex.Config)
}

// rulesAt returns the rules that decide for repo at base (checkout.Source).
type rulesAt interface {
	RulesAt(ctx context.Context, server *rules.Rules, repo string, base *gitmirror.Snapshot, report func(rules.Errors)) (*rules.Rules, error)
}

// repos returns every repository the page shows: those the server's
// rules name and those configured by their own file (valid or not: a
// broken file is shown with its error), sorted, each once.
func (s *uiSource) repos(server *rules.Rules) []string {
	out := reposOf(server)
	if s.configured == nil {
		return out
	}
	seen := make(map[string]bool, len(out))
	for _, r := range out {
		seen[strings.ToLower(r)] = true
	}
	_, cs := s.configured.Configs(server)
	added := false
	for _, c := range cs {
		// A repository the organisation policy no longer admits is not
		// shown, even if a worker indexed it before.
		if c.State == repoindex.None || seen[strings.ToLower(c.Repo)] || !server.Policy.RepoAllowed(c.Repo) {
			continue
		}
		seen[strings.ToLower(c.Repo)] = true
		out = append(out, c.Repo)
		added = true
	}
	if added {
		sortFold(out)
	}
	return out
}

func sortFold(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && strings.ToLower(s[j]) < strings.ToLower(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// located is what decides a repository's matrix now, read without walking
// history: the rules at its base head (its own configuration, generators
// expanded) and that head.
type located struct {
	rules *rules.Rules
	st    storer.EncodedObjectStorer
	head  plumbing.Hash
	h     *history.History // given (tests); nil: walked from st at head
	err   error            // the repository cannot be read or configured
	none  bool             // no worker has fetched it yet
}

// key is what a built matrix depends on besides the time.
func (l located) key() string {
	switch {
	case l.err != nil:
		return "error|" + l.err.Error()
	case l.none:
		return "none|" + l.rules.Digest()
	case l.h != nil:
		return fmt.Sprintf("given|%s|%p", l.rules.Digest(), l.h)
	}
	return servicesKey(l.rules) + "|" + l.head.String()
}

// servicesKey tells rules apart that share a file but not their services
// (generators expanded over different trees).
func servicesKey(rs *rules.Rules) string {
	f := fnv.New64a()
	for _, svc := range rs.Services {
		f.Write([]byte(svc.Name))
		f.Write([]byte{0})
	}
	return fmt.Sprintf("%s|%d|%x", rs.Digest(), len(rs.Services), f.Sum64())
}

// locate reads repo's base head and the rules there. A configuration file
// that does not load is an error the page shows; a repository not fetched
// yet is shown as such.
func (s *uiSource) locate(ctx context.Context, server *rules.Rules, repo string) located {
	if s.walk != nil {
		h, err := s.walk(ctx, server, repo)
		if err == nil && h == nil {
			return located{rules: server, none: true}
		}
		return located{rules: server, h: h, err: err}
	}
	branch := baseBranch(server)
	lk := strings.ToLower(repo)
	head, err := s.mirrors.Head(repo, branch)
	if err == nil {
		s.mu.Lock()
		c, ok := s.locs[lk]
		s.mu.Unlock()
		if ok && c.server == server && c.head == head && (c.ownBranch == "" || s.headIs(repo, c.ownBranch, c.ownHead)) {
			return c.l // nothing it was read from moved
		}
	}
	l := s.locateAt(ctx, server, repo, branch)
	if l.err == nil && !l.none && head != "" {
		c := locCache{server: server, head: head, l: l}
		if own := l.rules.Defaults.BaseBranch; own != "" && own != branch {
			c.ownBranch, c.ownHead = own, l.head.String()
		}
		s.mu.Lock()
		if s.locs == nil {
			s.locs = map[string]locCache{}
		}
		s.locs[lk] = c
		s.mu.Unlock()
	}
	return l
}

// locCache is a repository's located state, valid while the server's
// rules and the heads it was read at are the same.
type locCache struct {
	server             *rules.Rules
	head               string // the server's base branch head
	ownBranch, ownHead string // the configuration's own base branch, when it names one
	l                  located
}

func (s *uiSource) headIs(repo, branch, want string) bool {
	h, err := s.mirrors.Head(repo, branch)
	return err == nil && h == want
}

// locateAt reads repo at branch's head: the rules there and the head.
func (s *uiSource) locateAt(ctx context.Context, server *rules.Rules, repo, branch string) located {
	snap, err := s.mirrors.Snapshot(ctx, repo, branch)
	if errors.Is(err, gitmirror.ErrNoRepo) || errors.Is(err, gitmirror.ErrNoRev) {
		return located{rules: server, none: true}
	}
	if err != nil {
		return located{rules: server, err: fmt.Errorf("read %s@%s: %w", repo, branch, err)}
	}
	rs := server
	if s.configs != nil {
		if rs, err = s.configs.RulesAt(ctx, server, repo, snap, nil); err != nil {
			return located{rules: server, err: err}
		}
		if own := rs.Defaults.BaseBranch; rs != server && own != "" && own != branch {
			// The configuration names its own base branch: the matrix
			// is that branch's, with the configuration found there.
			branch = own
			if snap, err = s.mirrors.Snapshot(ctx, repo, branch); err != nil {
				return located{rules: server, err: fmt.Errorf("read %s@%s: %w", repo, branch, err)}
			}
			if rs, err = s.configs.RulesAt(ctx, server, repo, snap, nil); err != nil {
				return located{rules: server, err: err}
			}
		}
	}
	if rs, err = s.expansions.For(ctx, rs, repo, snap.Commit(), snap.FS()); err != nil {
		return located{rules: server, err: err}
	}
	st, _, err := s.mirrors.Objects(repo, branch)
	if err != nil {
		return located{rules: rs, err: fmt.Errorf("read %s@%s: %w", repo, branch, err)}
	}
	return located{rules: rs, st: st, head: plumbing.NewHash(snap.Commit())}
}

// freshWait is how long a request that finds a newer head waits for the
// rebuild before it is served the matrix at hand: a rebuild usually takes
// less, and a page stays within its ~100 ms even when it does not.
const freshWait = 50 * time.Millisecond

// get returns repo's matrix (matrices).
func (s *uiSource) get(ctx context.Context, server *rules.Rules, repo string) builtRepo {
	return s.matrices(ctx, server, []string{repo})[0]
}

// matrices returns each repository's matrix: the one built, when its key
// is current and it is under builtTTL old; else the one a background
// rebuild makes while the request waits (freshWait, once for all of
// them), or failing that the one built, marked updating when its head or
// rules are older; else (the first request of a repository) one built now.
func (s *uiSource) matrices(ctx context.Context, server *rules.Rules, repos []string) []builtRepo {
	out := make([]builtRepo, len(repos))
	type waiting struct {
		i    int
		key  string
		done <-chan struct{}
	}
	var waits []waiting
	for i, repo := range repos {
		l := s.locate(ctx, server, repo)
		key := l.key()
		s.mu.Lock()
		b, ok := s.built[strings.ToLower(repo)]
		s.mu.Unlock()
		switch {
		case ok && b.key == key && s.now().Sub(b.at) < builtTTL:
			out[i] = b
		case !ok:
			b = s.build(ctx, repo, l)
			if ctx.Err() == nil { // a request given up is no verdict on the repository
				s.keep(repo, b)
			}
			out[i] = b
		default:
			out[i] = b
			out[i].rp.Updating = b.key != key // else only its minute is up
			waits = append(waits, waiting{i, key, s.kick(repo)})
		}
	}
	if wait := s.wait(); len(waits) > 0 && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
	wait:
		for _, w := range waits {
			select {
			case <-w.done:
				s.mu.Lock()
				nb := s.built[strings.ToLower(repos[w.i])]
				s.mu.Unlock()
				out[w.i] = nb
				out[w.i].rp.Updating = nb.key != w.key // newer still: a later push
			case <-t.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}
	return out
}

// wait is how long a request waits for a rebuild (tests: negative, none).
func (s *uiSource) wait() time.Duration {
	if s.freshWait == 0 {
		return freshWait
	}
	return s.freshWait
}

// build walks repo's history (from its last walk, history.Cache) and
// builds its matrix.
func (s *uiSource) build(ctx context.Context, repo string, l located) builtRepo {
	h, err := l.h, l.err
	if err == nil && h == nil && !l.none {
		h, err = s.cache.Walk(ctx, l.st, l.head, l.rules, history.Options{Repo: repo})
		if err != nil {
			err = fmt.Errorf("history of %s: %w", repo, err)
		}
	}
	if err != nil {
		s.log.Warn().Err(err).Str("repo", repo).Msg("ui: repository unreadable; the page shows the error")
		rp := s.repository(l.rules, repo, nil, err)
		rp.Error = pageError(err)
		if errors.Is(err, checkout.ErrInvalidConfig) {
			rp.Services = []ui.Service{} // its services are unknown
		}
		return builtRepo{key: l.key(), at: s.now(), rp: rp, rules: l.rules, err: err}
	}
	return builtRepo{key: l.key(), at: s.now(), rp: s.repository(l.rules, repo, h, nil), rules: l.rules, h: h}
}

// pageError is what the page says of an unreadable repository: a broken
// configuration's first errors, else that history could not be read (the
// log has the details).
func pageError(err error) string {
	if errors.Is(err, checkout.ErrInvalidConfig) {
		errs := checkout.ConfigErrors(errors.Unwrap(err))
		if len(errs) > 3 {
			errs = append(errs[:3], fmt.Sprintf("and %d more", len(errs)-3))
		}
		return "The repository's configuration does not load (see its promobot/config check): " + strings.Join(errs, "; ")
	}
	return "The repository's history could not be read; promobot's log says why."
}

func (s *uiSource) keep(repo string, b builtRepo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built == nil {
		s.built = map[string]builtRepo{}
	}
	s.built[strings.ToLower(repo)] = b
}

// rebuild is a repository's background rebuild: again asks for one more
// pass (a kick came while a pass ran, maybe before a fetch it must see);
// done closes when the last pass ends.
type rebuild struct {
	again bool
	done  chan struct{}
}

// kick rebuilds repo's matrix in the background, one pass at a time; a
// kick while a pass runs makes one more pass after it, which reads the
// repository afresh. The channel closes when the last pass has ended.
func (s *uiSource) kick(repo string) <-chan struct{} {
	lk := strings.ToLower(repo)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return closedChan
	}
	if r := s.rebuilding[lk]; r != nil {
		r.again = true
		s.mu.Unlock()
		return r.done
	}
	if s.rebuilding == nil {
		s.rebuilding = map[string]*rebuild{}
	}
	r := &rebuild{done: make(chan struct{})}
	s.rebuilding[lk] = r
	s.wg.Add(1)
	s.mu.Unlock()
	ctx := s.bg
	if ctx == nil {
		ctx = context.Background()
	}
	go func() {
		defer s.wg.Done()
		for {
			s.rebuildOnce(ctx, repo)
			s.mu.Lock()
			if !r.again || ctx.Err() != nil {
				delete(s.rebuilding, lk)
				s.mu.Unlock()
				close(r.done)
				return
			}
			r.again = false
			s.mu.Unlock()
		}
	}()
	return r.done
}

// closedChan is the answer to a kick after close: nothing to wait for.
var closedChan = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

// rebuildOnce reads repo afresh and keeps its matrix unless it is current.
// At most GOMAXPROCS rebuilds walk at once: at start or after a rules
// reload every repository is kicked together.
func (s *uiSource) rebuildOnce(ctx context.Context, repo string) {
	server := s.rules()
	if server == nil || ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if s.sem == nil {
		s.sem = make(chan struct{}, runtime.GOMAXPROCS(0))
	}
	sem := s.sem
	s.mu.Unlock()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return
	}
	l := s.locate(ctx, server, repo)
	s.mu.Lock()
	b, ok := s.built[strings.ToLower(repo)]
	s.mu.Unlock()
	if ok && b.key == l.key() && s.now().Sub(b.at) < builtTTL {
		return
	}
	nb := s.build(ctx, repo, l)
	if ctx.Err() == nil {
		s.keep(repo, nb)
	}
}

// refresh brings every repository's matrix up to date in the background
// (after the mirrors were fetched); a repository whose key did not change
// costs a locate.
func (s *uiSource) refresh(ctx context.Context) {
	server := s.rules()
	if server == nil {
		return
	}
	repos := s.repos(server)
	s.forget(repos)
	for _, repo := range repos {
		if ctx.Err() != nil {
			return
		}
		l := s.locate(ctx, server, repo)
		s.mu.Lock()
		b, ok := s.built[strings.ToLower(repo)]
		s.mu.Unlock()
		if !ok || b.key != l.key() || s.now().Sub(b.at) >= builtTTL {
			s.kick(repo)
		}
	}
}

// forget drops what is kept of repositories no longer shown.
func (s *uiSource) forget(shown []string) {
	keep := make(map[string]bool, len(shown))
	for _, r := range shown {
		keep[strings.ToLower(r)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for lk := range s.built {
		if !keep[lk] {
			delete(s.built, lk)
		}
	}
	for lk := range s.locs {
		if !keep[lk] {
			delete(s.locs, lk)
		}
	}
}

// settle waits for the background rebuilds running, and the passes they
// were asked for meanwhile.
func (s *uiSource) settle() { s.wg.Wait() }

// close refuses new rebuilds and waits for those running (shutdown).
func (s *uiSource) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}
