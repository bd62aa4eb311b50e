package rules

import (
	"context"
	"io/fs"
	"strings"
	"sync"

	"github.com/promobot/promobot/internal/fate"
)

// Expansions caches generator expansions by rules value, repository and
// commit. Every intent of a push reads the same commit, and a generator
// over hundreds of directories is worth listing once per commit, not once
// per intent. Safe for concurrent use; the zero value is ready.
type Expansions struct {
	mu sync.Mutex
	m  map[expansionKey]*Rules
}

type expansionKey struct {
	rules        *Rules
	repo, commit string
}

// expansionsKept bounds the cache: a new rules file or a stream of pushes
// must not grow it without end; a cleared cache only costs a re-listing.
const expansionsKept = 64

// For returns r with its generators expanded over fsys, the tree of repo at
// commit. Generators of other repositories expand to no service: a worker
// only ever reads the intent's own repository. A generator the tree breaks
// (a generated name clashing with another service) is terminal for this
// commit: retrying reads the same tree.
func (e *Expansions) For(ctx context.Context, r *Rules, repo, commit string, fsys fs.FS) (*Rules, error) {
	if len(r.Generators) == 0 {
		return r, nil
	}
	key := expansionKey{r, strings.ToLower(repo), commit}
	e.mu.Lock()
	cached, ok := e.m[key]
	e.mu.Unlock()
	if ok {
		return cached, nil
	}
	out, err := r.Expand(ctx, func(name string) (fs.FS, error) {
		if !strings.EqualFold(name, repo) {
			return emptyFS{}, nil
		}
		return fsys, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fate.Terminalf("expand generators over %s@%.7s: %w", repo, commit, err)
	}
	e.mu.Lock()
	if e.m == nil || len(e.m) >= expansionsKept {
		e.m = map[expansionKey]*Rules{}
	}
	e.m[key] = out
	e.mu.Unlock()
	return out, nil
}

// emptyFS lists nothing.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
