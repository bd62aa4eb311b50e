package checkout

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/rules"
)

// ConfigIndex records what a worker read of a repository's own
// configuration at a base branch commit, so that processes which read no
// repository (the webhook) classify with it (repoindex.Index through an
// adapter in internal/app).
type ConfigIndex interface {
	IndexConfig(ctx context.Context, c LoadedConfig) error
}

// LoadedConfig is one repository's configuration as read at Commit.
type LoadedConfig struct {
	Repo, Path, Commit string
	// CommitTime is Commit's committer time (orders reads of one branch).
	CommitTime time.Time
	// Found: the file exists (Data is its content, when it could be read).
	Found bool
	Data  []byte
	// Err is why the file does not load (nil: it does, or there is none).
	Err error
}

// index hands a configuration just read to s.Index. A cancelled or
// failed read (not a verdict on the commit) is not indexed; a failed
// write is logged: the next read of a new commit writes again.
func (s *Source) index(ctx context.Context, repo, commit string, committed time.Time, e *configEntry) {
	if s.Index == nil || ctx.Err() != nil {
		return
	}
	if e.err != nil && !errors.Is(e.err, ErrInvalidConfig) {
		return
	}
	c := LoadedConfig{Repo: repo, Path: s.configPath(), Commit: commit, CommitTime: committed, Found: e.found, Data: e.data, Err: e.err}
	if err := s.Index.IndexConfig(ctx, c); err != nil {
		s.Log.Warn().Err(err).Str("repo", repo).Str("commit", commit).Msg("repository configuration not indexed; the webhook classifies with the previous entry")
		return
	}
	state := "none"
	switch {
	case e.err != nil:
		state = "invalid"
	case e.found:
		state = "valid"
	}
	s.Log.Debug().Str("repo", repo).Str("commit", commit).Str("state", state).Msg("repository configuration indexed")
}

// ConfigErrors returns the errors of an invalid configuration read.
func ConfigErrors(err error) []string {
	var errs rules.Errors
	if !errors.As(err, &errs) {
		if err == nil {
			return nil
		}
		return []string{err.Error()}
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, strings.TrimSpace(e.Error()))
	}
	return out
}
