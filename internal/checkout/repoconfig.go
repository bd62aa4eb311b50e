package checkout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/rules"
)

// ConfigStatusContext is the commit status promobot sets on the commit
// whose repository configuration does not load.
const ConfigStatusContext = "promobot/config"

// ErrIgnored marks an intent of a repository the organisation policy's
// repositories.allow leaves out: the worker skips it.
var ErrIgnored = errors.New("repository outside the organisation policy's repositories.allow")

// ErrInvalidConfig marks an intent of a repository whose configuration at
// the commit read does not load: promotions in that repository stop until
// a push fixes it (the previous valid configuration is not used).
var ErrInvalidConfig = errors.New("invalid repository configuration")

// configs caches repository configurations per server rules, repository
// and commit: every intent of a push reads the same commit, and parsing and
// merging a configuration is worth doing once per commit, not per intent.
type configs struct {
	mu     sync.Mutex
	m      map[configKey]*configEntry
	hits   atomic.Int64
	misses atomic.Int64

	ignoredMu sync.Mutex
	ignored   map[string]bool // repositories logged as outside the policy
}

type configKey struct {
	server       *rules.Rules
	repo, commit string
}

type configEntry struct {
	rules    *rules.Rules // nil: none (err set, or no file: the server's)
	err      error
	reported atomic.Bool // the failed status was set
	// what was read, for the configuration index (index.go)
	found bool
	data  []byte
}

// configsKept bounds the cache (100 repositories, each with a few commits
// in flight, fit); a cleared cache only costs a re-parse.
const configsKept = 4096

// ConfigStats counts repository configuration loads: Misses parsed a
// configuration (or found none) at a commit, Hits reused that.
type ConfigStats struct{ Hits, Misses int64 }

// ConfigStats reports the configuration cache's counts since start.
func (s *Source) ConfigStats() ConfigStats {
	return ConfigStats{Hits: s.configs.hits.Load(), Misses: s.configs.misses.Load()}
}

func (s *Source) configPath() string {
	if s.RepoConfigPath != "" {
		return s.RepoConfigPath
	}
	return rules.DefaultRepoConfigPath
}

// allowed reports whether the policy admits repo, logging the first refusal
// of each repository once.
func (s *Source) allowed(server *rules.Rules, repo string) error {
	if server.Policy.RepoAllowed(repo) {
		return nil
	}
	key := strings.ToLower(repo)
	s.configs.ignoredMu.Lock()
	first := !s.configs.ignored[key]
	if first {
		if s.configs.ignored == nil {
			s.configs.ignored = map[string]bool{}
		}
		s.configs.ignored[key] = true
	}
	s.configs.ignoredMu.Unlock()
	if first {
		s.Log.Warn().Str("repo", repo).Strs("allow", server.Policy.Repositories.Allow).
			Msg("installation on a repository outside the organisation policy's repositories.allow: its events are ignored")
	}
	return fmt.Errorf("%s: %w", repo, ErrIgnored)
}

// RulesAt returns the rules that decide for repo at base: its own
// configuration (rules.ParseRepoConfig, merged with the server's policy)
// when base holds one, else the server's rules. A configuration that does
// not load is an error marked terminal and ErrInvalidConfig; report, when
// not nil, is called once per commit with its errors.
func (s *Source) RulesAt(ctx context.Context, server *rules.Rules, repo string, base *gitmirror.Snapshot, report func(rules.Errors)) (*rules.Rules, error) {
	key := configKey{server, strings.ToLower(repo), base.Commit()}
	s.configs.mu.Lock()
	e, ok := s.configs.m[key]
	s.configs.mu.Unlock()
	if ok {
		s.configs.hits.Add(1)
	} else {
		s.configs.misses.Add(1)
		e = s.loadConfig(ctx, server, repo, base)
		if ctx.Err() != nil && e.err != nil {
			return nil, e.err // not cached: a cancelled read says nothing of the commit
		}
		s.configs.mu.Lock()
		if s.configs.m == nil || len(s.configs.m) >= configsKept {
			s.configs.m = map[configKey]*configEntry{}
		}
		if prev, ok := s.configs.m[key]; ok {
			e = prev // another intent loaded it meanwhile: report once
		} else {
			s.configs.m[key] = e
		}
		s.configs.mu.Unlock()
		s.index(ctx, repo, base.Commit(), base.CommitTime(), e)
	}
	if e.err != nil {
		var errs rules.Errors
		if report != nil && errors.As(e.err, &errs) && e.reported.CompareAndSwap(false, true) {
			report(errs)
		}
		return nil, e.err
	}
	if e.rules == nil {
		return server, nil
	}
	return e.rules, nil
}

func (s *Source) loadConfig(ctx context.Context, server *rules.Rules, repo string, base *gitmirror.Snapshot) *configEntry {
	path := s.configPath()
	data, err := base.ReadFile(ctx, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &configEntry{} // no configuration: the server's rules
	case err != nil && fate.IsTerminal(err):
		// a symlink, a directory, a file over the mirror's limit
		return &configEntry{err: fate.MarkTerminal(fmt.Errorf("%w %s@%.7s: %w", ErrInvalidConfig, repo, base.Commit(),
			rules.Errors{{File: path, Line: 1, Column: 1, Msg: err.Error()}})), found: true}
	case err != nil:
		return &configEntry{err: fmt.Errorf("read %s@%.7s:%s: %w", repo, base.Commit(), path, err)}
	}
	// A configuration that names no base branch decides on the branch it
	// was read from: the rules file's.
	rc, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: repo, Path: path, Commit: base.Commit(), BaseBranch: server.Defaults.BaseBranch}, data, server.Policy)
	if err != nil {
		return &configEntry{err: fate.MarkTerminal(fmt.Errorf("%w %s@%.7s: %w", ErrInvalidConfig, repo, base.Commit(), err)), found: true, data: data}
	}
	return &configEntry{rules: rc, found: true, data: data}
}

// configReporter sets the failed promobot/config status on commit of repo,
// describing the errors and linking the first one's line.
func configReporter(ctx context.Context, st prwriter.StatusSetter, in intent.Intent, commit string, log zerolog.Logger) func(rules.Errors) {
	if st == nil {
		return nil
	}
	return func(errs rules.Errors) {
		err := prwriter.Status(ctx, st, in.Repo, commit, "failure", ConfigStatusContext, ConfigDescription(errs), configURL(in, commit, errs))
		ev := log.Warn().Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("repo", in.Repo).Str("commit", commit).Int("errors", len(errs)).Str("first", errs[0].Error())
		if err != nil {
			ev = ev.AnErr("status", err)
		}
		ev.Msg("repository configuration invalid: promotions in this repository stop until a push fixes it")
	}
}

// ConfigDescription is a commit status description for errs (GitHub keeps
// 140 characters): the count and the first error with its file, line and
// field.
func ConfigDescription(errs rules.Errors) string {
	if len(errs) == 0 {
		return "invalid configuration"
	}
	d := errs[0].Error()
	if len(errs) > 1 {
		d = fmt.Sprintf("%d errors; %s", len(errs), d)
	}
	return d
}

func configURL(in intent.Intent, commit string, errs rules.Errors) string {
	base := in.Source.HTMLBase
	if base == "" {
		base = "https://github.com"
	}
	u := fmt.Sprintf("%s/%s/blob/%s/%s", strings.TrimRight(base, "/"), in.Repo, commit, errs[0].File)
	if errs[0].Line > 0 {
		u += fmt.Sprintf("#L%d", errs[0].Line)
	}
	return u
}

// reporter sets promobot/config with the installation of the GitOps
// repository (nil inst: nowhere, as in offline use).
func (s *Source) reporter(ctx context.Context, inst *ghapp.Installation, in intent.Intent, commit string) func(rules.Errors) {
	if inst == nil {
		return nil
	}
	return configReporter(ctx, prwriter.REST(inst.Client), in, commit, s.Log)
}
