// Package gitmirror keeps a local bare mirror of each GitOps repository and
// reads files at a commit from it, so that reading a repository costs one git
// fetch instead of one GitHub API call per file.
//
// Concurrency model: go-git storage objects are not goroutine-safe (even
// reads fill lazy caches), and go-git rewrites ref files in place. So:
//   - only one fetch per repository touches the disk at a time, with a
//     storage of its own;
//   - readers never read refs from disk: branch heads are published in
//     memory after each fetch, as one immutable map;
//   - readers share one storage per fetch generation, behind a mutex, and
//     only read objects, which are immutable once visible (go-git writes a
//     pack's .idx before it renames the .pack into place; packs are never
//     deleted here).
//
// Freshness (fresh.go): each repository remembers when its latest
// successful fetch started, so FetchSince can serve a caller from a fetch
// that is recent enough (or join one on the wire) instead of fetching again,
// and MarkStale tells it that the remote moved (promobot wrote to it).
package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/promobot/promobot/internal/intent"
)

// MaxFileSize is the largest file ReadFile returns.
const MaxFileSize = 10 << 20

var (
	// ErrNoRepo: the repository was never fetched into this mirror root.
	ErrNoRepo = errors.New("gitmirror: repository not mirrored")
	// ErrNoRev: the branch or commit is not in the mirror.
	ErrNoRev = errors.New("gitmirror: revision not found")
	// ErrTooLarge: the file is over MaxFileSize.
	ErrTooLarge = errors.New("gitmirror: file too large")
	// ErrInvalidPath: a path is absolute, empty, has a NUL or a ".." element.
	ErrInvalidPath = errors.New("gitmirror: invalid path")
	// ErrInvalidURL: a clone URL with a scheme other than http(s), or with credentials in it.
	ErrInvalidURL = errors.New("gitmirror: invalid clone url")
	// ErrInvalidRepo: the repository is not owner/name.
	ErrInvalidRepo = errors.New("gitmirror: invalid repository name")
)

// Credentials returns the basic-auth pair for one fetch, e.g.
// ("x-access-token", installation token). It is called once per network fetch
// so that short-lived tokens are fresh.
type Credentials func(ctx context.Context) (username, password string, err error)

// Option configures Mirrors.
type Option func(*Mirrors)

// AllowFileURLs lets Fetch use file:// clone URLs (tests only).
func AllowFileURLs() Option { return func(m *Mirrors) { m.allowFile = true } }

// WithFetchTimeout bounds one network fetch (default 5 minutes), whatever the
// callers' contexts say, because a coalesced fetch outlives any one caller.
func WithFetchTimeout(d time.Duration) Option { return func(m *Mirrors) { m.fetchTimeout = d } }

// Mirrors is a set of bare mirrors under one root directory. It is safe for
// concurrent use. One root must be used by one Mirrors (one process) at a time.
type Mirrors struct {
	root         string
	allowFile    bool
	fetchTimeout time.Duration

	mu    sync.Mutex
	repos map[string]*repoState

	fetches atomic.Int64 // network fetches started, for Fetches
}

// New returns Mirrors rooted at root (<data-dir>/mirrors); each repository
// lives at <root>/<owner>/<name>.git. Nothing is touched until first use.
func New(root string, opts ...Option) *Mirrors {
	m := &Mirrors{root: root, fetchTimeout: 5 * time.Minute, repos: map[string]*repoState{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// repoState is the in-memory side of one mirror.
type repoState struct {
	dir string

	mu      sync.Mutex
	loaded  bool                     // refs reflect the disk (or the disk has no mirror)
	exists  bool                     // the mirror exists on disk
	refs    map[string]plumbing.Hash // branch -> commit; replaced whole, never mutated
	gen     *store                   // reader storage for refs; replaced with them
	running *flight                  // the fetch touching the disk now
	pending *flight                  // the fetch that starts after running, for callers that came later
	fetched time.Time                // when the latest successful fetch of this process started
	stale   time.Time                // MarkStale: no fetch that started before this serves FetchSince
}

// flight is one network fetch shared by every caller that waits on it.
type flight struct {
	done    chan struct{}
	err     error
	waiters int
	url     string
	creds   Credentials
	cancel  context.CancelFunc // set when it starts
	started time.Time          // set when it starts
}

func (m *Mirrors) state(repo string) (*repoState, error) {
	if !intent.ValidRepo(repo) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidRepo, repo)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.repos[repo]
	if !ok {
		owner, name, _ := strings.Cut(repo, "/")
		st = &repoState{dir: filepath.Join(m.root, owner, name+".git")}
		m.repos[repo] = st
	}
	return st, nil
}

// load reads the refs of a mirror left on disk by an earlier process. It runs
// before any fetch of this process touches the repository, so it never races
// with a writer. Callers hold st.mu.
func (st *repoState) load() error {
	if st.loaded {
		return nil
	}
	if _, err := os.Stat(filepath.Join(st.dir, "objects")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			st.loaded = true
			return nil
		}
		return fmt.Errorf("gitmirror: stat mirror: %w", err)
	}
	refs, err := readBranches(openStorage(st.dir))
	if err != nil {
		return err
	}
	st.refs, st.gen, st.exists, st.loaded = refs, newStore(st.dir), true, true
	return nil
}

// store is a storage shared by the readers of one generation of a mirror
// (from one fetch to the next), so that pack indexes are loaded once per
// fetch, not once per snapshot. go-git storage is not goroutine-safe: every
// use holds mu.
//
// A store keeps up to storeOpenPacks pack files open: go-git otherwise
// opens (and resolves the path of) a pack for every object it reads, even
// one its object cache holds, which was most of the CPU of a decision that
// changes nothing. retire closes them when a fetch replaces the store.
type store struct {
	mu sync.Mutex
	s  *filesystem.Storage
}

const storeOpenPacks = 32

func newStore(dir string) *store {
	return &store{s: filesystem.NewStorageWithOptions(tolerantFS{osfs.New(dir), dir}, cache.NewObjectLRU(16*cache.MiByte),
		filesystem.Options{LargeObjectThreshold: MaxFileSize, MaxOpenDescriptors: storeOpenPacks})}
}

// retire closes the packs a replaced store holds open. Snapshots of its
// generation may still read through it: go-git then opens packs again,
// and they are closed when the store is collected (os.File's cleanup).
func (g *store) retire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.s.Close() // only close errors of read-only files: nothing to do
}

// openStorage is a storage that keeps no file open: the fetch's, and the
// ref listings'.
func openStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(tolerantFS{osfs.New(dir), dir}, cache.NewObjectLRU(16*cache.MiByte),
		filesystem.Options{LargeObjectThreshold: MaxFileSize})
}

// tolerantFS works around go-billy's osfs ReadDir, which fails a whole
// listing when one entry vanishes between readdir and lstat — as a fetch's
// tmp_pack_ file does when it is renamed into place. go-git takes that
// ENOENT for "no pack directory" and reports every packed object missing.
type tolerantFS struct {
	billy.Filesystem
	dir string
}

func (f tolerantFS) ReadDir(p string) ([]os.FileInfo, error) {
	entries, err := os.ReadDir(filepath.Join(f.dir, filepath.FromSlash(p)))
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since the listing: it is not there
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

func readBranches(s storer.ReferenceStorer) (map[string]plumbing.Hash, error) {
	iter, err := s.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("gitmirror: list refs: %w", err)
	}
	refs := map[string]plumbing.Hash{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && r.Name().IsBranch() {
			refs[r.Name().Short()] = r.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gitmirror: list refs: %w", err)
	}
	return refs, nil
}

// validURL refuses every transport but http(s) (and file:// when allowed):
// ssh, git://, ext:: and friends have no business here. Credentials in the
// URL are refused so they cannot reach the disk or an error message.
func (m *Mirrors) validURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: unparsable", ErrInvalidURL)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%w: credentials in url", ErrInvalidURL)
	case u.Scheme == "https" || u.Scheme == "http":
		if u.Host == "" {
			return fmt.Errorf("%w: no host", ErrInvalidURL)
		}
	case u.Scheme == "file" && m.allowFile:
	default:
		return fmt.Errorf("%w: scheme %q not allowed", ErrInvalidURL, u.Scheme)
	}
	return nil
}

// Fetch brings the mirror of repo up to date with cloneURL: every branch,
// force-updated, deleted branches pruned. It creates the mirror on first use.
//
// Concurrent calls for one repository coalesce: a caller that arrives while
// a fetch runs waits for the next one, which then serves every caller that
// arrived meanwhile (so a caller never gets a fetch that started before it
// asked, e.g. before the push it was told about). Different repositories
// fetch in parallel. ctx bounds the wait; the shared fetch is cancelled when
// every caller waiting on it has gone.
func (m *Mirrors) Fetch(ctx context.Context, repo, cloneURL string, creds Credentials) error {
	return m.fetch(ctx, repo, cloneURL, creds, nil)
}

// fetch is Fetch (since nil) and FetchSince: with since, a successful fetch
// that started after since (and after the last MarkStale) serves the caller
// without a new one, and so does one already on the wire that started after
// it.
func (m *Mirrors) fetch(ctx context.Context, repo, cloneURL string, creds Credentials, since *time.Time) error {
	if err := m.validURL(cloneURL); err != nil {
		return err
	}
	st, err := m.state(repo)
	if err != nil {
		return err
	}

	st.mu.Lock()
	if err := st.load(); err != nil {
		st.mu.Unlock()
		return err
	}
	var f *flight
	if since != nil {
		after := *since
		if st.stale.After(after) {
			after = st.stale
		}
		if st.exists && st.fetched.After(after) {
			st.mu.Unlock()
			return nil // recent enough: no network
		}
		if st.running != nil && st.running.started.After(after) {
			f = st.running // recent enough and on the wire: share it
		}
	}
	switch {
	case f != nil:
	case st.running == nil:
		f = &flight{done: make(chan struct{}), url: cloneURL, creds: creds}
		st.running = f
		m.start(st, f)
	default:
		if st.pending == nil {
			st.pending = &flight{done: make(chan struct{})}
		}
		f = st.pending
		f.url, f.creds = cloneURL, creds // the latest caller's token is the freshest
	}
	f.waiters++
	st.mu.Unlock()

	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		st.mu.Lock()
		defer st.mu.Unlock()
		select {
		case <-f.done: // finished while we were giving up: take the result
			return f.err
		default:
		}
		f.waiters--
		if f.waiters == 0 {
			if f == st.pending {
				st.pending = nil
			} else if f.cancel != nil {
				f.cancel()
			}
		}
		return fmt.Errorf("gitmirror: fetch %s: %w", repo, ctx.Err())
	}
}

// start runs f in the background. Callers hold st.mu.
func (m *Mirrors) start(st *repoState, f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), m.fetchTimeout)
	f.cancel, f.started = cancel, time.Now()
	m.fetches.Add(1)
	cloneURL, creds := f.url, f.creds
	go func() {
		err := m.fetchOnce(ctx, st, cloneURL, creds)
		cancel()
		// The disk is ours alone until running changes hands: read the refs
		// now, whether the fetch succeeded or not, so memory matches disk.
		refs, rerr := readBranchesDir(st.dir)
		st.mu.Lock()
		defer st.mu.Unlock()
		if rerr == nil && refs != nil {
			if old := st.gen; old != nil {
				go old.retire() // not under st.mu: a reader may hold old.mu for a while
			}
			st.refs, st.gen, st.exists = refs, newStore(st.dir), true
		}
		if err == nil {
			err = rerr
		}
		if err == nil {
			st.fetched = f.started
		}
		f.err = err
		close(f.done)
		st.running = st.pending
		st.pending = nil
		if st.running != nil {
			m.start(st, st.running)
		}
	}()
}

// readBranchesDir reads the branch refs of the mirror at dir; nil when none exists.
func readBranchesDir(dir string) (map[string]plumbing.Hash, error) {
	if _, err := os.Stat(filepath.Join(dir, "objects")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("gitmirror: stat mirror: %w", err)
	}
	return readBranches(openStorage(dir))
}

var branchSpec = config.RefSpec("+refs/heads/*:refs/heads/*")

// fetchOnce does one network fetch. It is the only writer of st.dir.
func (m *Mirrors) fetchOnce(ctx context.Context, st *repoState, cloneURL string, creds Credentials) error {
	var auth *githttp.BasicAuth
	var secret string
	if creds != nil {
		user, pass, err := creds(ctx)
		if err != nil {
			return fmt.Errorf("gitmirror: credentials: %w", err)
		}
		auth, secret = &githttp.BasicAuth{Username: user, Password: pass}, pass
	}

	if err := os.MkdirAll(st.dir, 0o750); err != nil {
		return fmt.Errorf("gitmirror: create mirror dir: %w", err)
	}
	removeTempPacks(st.dir)
	s := openStorage(st.dir)
	r, err := git.Open(s, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.Init(s, nil) // no worktree: bare
	}
	if err != nil {
		return fmt.Errorf("gitmirror: open mirror: %w", err)
	}
	// The remote lives only in memory: the URL (and anything near it) never
	// reaches the on-disk config.
	remote := git.NewRemote(r.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{cloneURL}})
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{branchSpec},
		Auth:     authOrNil(auth),
		Tags:     git.NoTags,
		Prune:    true,
		Force:    true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		// go-git does not prune against an empty remote: do it here.
		return removeBranches(s)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return redact(fmt.Errorf("gitmirror: fetch: %w", err), secret)
}

// removeTempPacks deletes what an interrupted fetch left behind. Only the
// running fetch writes the mirror, so nothing else can be using them.
func removeTempPacks(dir string) {
	tmps, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_*"))
	if err != nil {
		return // only a malformed pattern fails, and this one is constant
	}
	for _, t := range tmps {
		_ = os.Remove(t) // best effort: a leftover costs disk space, not correctness
	}
}

// authOrNil avoids a typed-nil interface, which go-git would dereference.
func authOrNil(a *githttp.BasicAuth) transport.AuthMethod {
	if a == nil {
		return nil
	}
	return a
}

func removeBranches(s *filesystem.Storage) error {
	refs, err := readBranches(s)
	if err != nil {
		return err
	}
	for b := range refs {
		if err := s.RemoveReference(plumbing.NewBranchReferenceName(b)); err != nil {
			return fmt.Errorf("gitmirror: prune %s: %w", b, err)
		}
	}
	return nil
}

// redactedError keeps errors.Is working for the sentinel causes callers act
// on, but never unwraps to a message that contained the secret.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

var knownCauses = []error{
	context.Canceled, context.DeadlineExceeded,
	transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound,
}

// redact removes secret from err's message. Belt and braces: go-git masks
// BasicAuth in its own strings, but a server may echo anything back.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	re := &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "<redacted>")}
	for _, c := range knownCauses {
		if errors.Is(err, c) {
			re.cause = c
			break
		}
	}
	return re
}

// loadedState returns the state of a mirror that exists, or ErrNoRepo.
func (m *Mirrors) loadedState(repo string) (map[string]plumbing.Hash, *store, error) {
	st, err := m.state(repo)
	if err != nil {
		return nil, nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.load(); err != nil {
		return nil, nil, err
	}
	if !st.exists {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoRepo, repo)
	}
	return st.refs, st.gen, nil
}

// Head returns the commit sha that branch points at in the mirror, as of the
// last completed fetch.
func (m *Mirrors) Head(repo, branch string) (string, error) {
	refs, _, err := m.loadedState(repo)
	if err != nil {
		return "", err
	}
	h, ok := refs[branch]
	if !ok {
		return "", fmt.Errorf("%w: branch %q in %s", ErrNoRev, branch, repo)
	}
	return h.String(), nil
}

// Branches returns every branch of the mirror and its commit sha.
func (m *Mirrors) Branches(repo string) (map[string]string, error) {
	refs, _, err := m.loadedState(repo)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(refs))
	for b, h := range refs {
		out[b] = h.String()
	}
	return out, nil
}
