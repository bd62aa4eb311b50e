// Package repoindex keeps the index of repository configurations in NATS
// KV: what each GitOps repository's own configuration file said at the
// base branch commit a worker last read it. Workers write it (they read
// repositories); webhook processes, which never call GitHub nor read a
// repository, watch it and classify events with it.
//
// An entry holds the file as read (bounded by MaxConfig), not a compiled
// form: every process compiles it with rules.ParseRepoConfig against the
// server rules it runs with, so the webhook classifies with exactly the
// services, environments and tag templates the worker decides with, and a
// change of the organisation policy applies to every indexed repository
// at once.
package repoindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// Bucket is the KV bucket of the index, one key per repository.
const Bucket = "promobot-repo-configs"

// MaxConfig bounds the configuration an entry carries: larger files are
// indexed as invalid (their repository's events are not classified).
const MaxConfig = 512 << 10

// State is what a worker found at the commit it read.
type State string

const (
	// Valid: the file loads (with the policy of the worker's rules).
	Valid State = "valid"
	// Invalid: the file does not load; the repository gets no intents
	// except the configuration reads that report it.
	Invalid State = "invalid"
	// None: the repository has no configuration file; the server's rules
	// decide for it.
	None State = "none"
)

// Entry is one repository's indexed configuration.
type Entry struct {
	Repo   string `json:"repo"`
	Path   string `json:"path"`
	Commit string `json:"commit"`
	State  State  `json:"state"`
	// Config is the file as read (Valid and Invalid).
	Config []byte `json:"config,omitempty"`
	// Errors are the first errors of an Invalid file, for people.
	Errors  []string  `json:"errors,omitempty"`
	Indexed time.Time `json:"indexed"`
	// Committed is Commit's committer time: a read of an older commit,
	// finished late, does not replace the entry of a newer one.
	Committed time.Time `json:"committed,omitzero"`
}

// maxErrors bounds the errors an entry keeps.
const maxErrors = 10

// Config is one indexed repository compiled with a server's rules.
type Config struct {
	Repo  string
	State State
	// Rules is the configuration merged with the server's policy; nil
	// unless State is Valid.
	Rules *rules.Rules
}

// Index is the index as this process sees it: written through, watched
// from KV. Safe for concurrent use.
type Index struct {
	kv  jetstream.KeyValue
	log zerolog.Logger

	mu      sync.Mutex
	entries map[string]Entry // by lower-case repository
	version uint64           // bumped on every change of entries
	bumped  chan struct{}    // closed (and replaced) at each bump
	// the compiled list for one (server rules, version)
	server   *rules.Rules
	compiled uint64
	list     []Config
	// each entry compiled with server, kept while neither changes: a new
	// commit of one repository compiles that repository alone
	byRepo map[string]compiledEntry
}

type compiledEntry struct {
	commit, path string
	state        State
	c            Config
}

// Open creates or updates the bucket and returns the index (empty until
// Watch).
func Open(ctx context.Context, js jetstream.JetStream, replicas int, log zerolog.Logger) (*Index, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "promobot repository configurations by repository",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("repoindex: bucket %s: %w", Bucket, err)
	}
	return &Index{kv: kv, log: log, entries: map[string]Entry{}, bumped: make(chan struct{})}, nil
}

func key(repo string) string { return queue.EscapeKey(strings.ToLower(repo)) }

// Put records what a worker read. An entry for the same commit and state
// is not written again; a file over MaxConfig is recorded as Invalid.
func (x *Index) Put(ctx context.Context, e Entry) error {
	if e.State == Valid || e.State == Invalid {
		if len(e.Config) > MaxConfig {
			e.State, e.Config = Invalid, nil
			e.Errors = []string{fmt.Sprintf("%s: larger than the index keeps (%d bytes)", e.Path, MaxConfig)}
		}
	} else {
		e.Config = nil
	}
	if len(e.Errors) > maxErrors {
		e.Errors = e.Errors[:maxErrors]
	}
	lk := strings.ToLower(e.Repo)
	x.mu.Lock()
	prev, ok := x.entries[lk]
	x.mu.Unlock()
	if ok && prev.Commit == e.Commit && prev.State == e.State && prev.Path == e.Path {
		return nil
	}
	if e.Indexed.IsZero() {
		e.Indexed = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("repoindex: encode %s: %w", e.Repo, err)
	}
	// Compare and set: the entry read is replaced only by its revision,
	// so of two workers indexing two commits the newer commit stays.
	for range maxPutTries {
		cur, err := x.kv.Get(ctx, key(e.Repo))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
			_, err = x.kv.Create(ctx, key(e.Repo), b)
		case err != nil:
			return fmt.Errorf("repoindex: read %s: %w", e.Repo, err)
		default:
			var old Entry
			if json.Unmarshal(cur.Value(), &old) == nil && old.Commit != e.Commit &&
				!e.Committed.IsZero() && old.Committed.After(e.Committed) {
				x.log.Debug().Str("repo", e.Repo).Str("commit", e.Commit).Str("indexed", old.Commit).
					Msg("repository configuration of an older commit not indexed over a newer one")
				return nil
			}
			_, err = x.kv.Update(ctx, key(e.Repo), b, cur.Revision())
		}
		if err == nil {
			x.set(lk, e)
			return nil
		}
		if !queue.CASConflict(err) {
			return fmt.Errorf("repoindex: put %s: %w", e.Repo, err)
		}
	}
	return fmt.Errorf("repoindex: put %s: %d concurrent writes won", e.Repo, maxPutTries)
}

// maxPutTries bounds Put's compare-and-set rounds against other writers.
const maxPutTries = 5

// Has reports whether repo has an entry (as this process last saw).
func (x *Index) Has(repo string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.entries[strings.ToLower(repo)]
	return ok
}

func (x *Index) set(lk string, e Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if prev, ok := x.entries[lk]; ok && prev.Commit == e.Commit && prev.State == e.State && prev.Path == e.Path && string(prev.Config) == string(e.Config) {
		return
	}
	x.entries[lk] = e
	x.bump()
}

// bump records a change; x.mu is held.
func (x *Index) bump() {
	x.version++
	close(x.bumped)
	x.bumped = make(chan struct{})
}

// changed returns a channel closed at the next change.
func (x *Index) changed() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.bumped
}

// Watch loads every entry, then follows the bucket's changes until ctx
// ends. It returns once the entries that existed are loaded; ready
// reports an error when they could not be.
func (x *Index) Watch(ctx context.Context) error {
	w, err := x.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("repoindex: watch: %w", err)
	}
	loaded := make(chan struct{})
	go func() {
		defer func() { _ = w.Stop() }() // the watch ends with ctx anyway
		initial := true
		for {
			select {
			case <-ctx.Done():
				if initial {
					close(loaded)
				}
				return
			case u, ok := <-w.Updates():
				if !ok {
					if initial {
						close(loaded)
					}
					return
				}
				if u == nil { // every existing entry delivered
					if initial {
						initial = false
						close(loaded)
					}
					continue
				}
				x.apply(u)
			}
		}
	}()
	select {
	case <-loaded:
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (x *Index) apply(u jetstream.KeyValueEntry) {
	if u.Operation() != jetstream.KeyValuePut {
		x.mu.Lock()
		for lk, e := range x.entries {
			if key(e.Repo) == u.Key() {
				delete(x.entries, lk)
				x.bump()
			}
		}
		x.mu.Unlock()
		return
	}
	var e Entry
	if err := json.Unmarshal(u.Value(), &e); err != nil || e.Repo == "" || key(e.Repo) != u.Key() {
		x.log.Warn().Str("key", u.Key()).AnErr("error", err).Msg("undecodable repository configuration index entry ignored")
		return
	}
	x.set(strings.ToLower(e.Repo), e)
}

// Configs returns every indexed repository compiled with server's rules
// (its policy and default base branch), sorted by repository, and the
// version of the index it reflects. The list is shared: callers must not
// change it. A Valid entry that no longer loads (the policy changed) is
// Invalid here.
func (x *Index) Configs(server *rules.Rules) (uint64, []Config) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.list != nil && x.server == server && x.compiled == x.version {
		return x.version, x.list
	}
	if x.server != server {
		x.byRepo = nil
	}
	byRepo := make(map[string]compiledEntry, len(x.entries))
	list := make([]Config, 0, len(x.entries))
	for lk, e := range x.entries {
		ce, ok := x.byRepo[lk]
		if !ok || ce.commit != e.Commit || ce.path != e.Path || ce.state != e.State {
			ce = compiledEntry{commit: e.Commit, path: e.Path, state: e.State, c: compile(server, e)}
		}
		byRepo[lk] = ce
		list = append(list, ce.c)
	}
	x.byRepo = byRepo
	sort.Slice(list, func(i, j int) bool { return strings.ToLower(list[i].Repo) < strings.ToLower(list[j].Repo) })
	x.server, x.compiled, x.list = server, x.version, list
	return x.version, list
}

func compile(server *rules.Rules, e Entry) Config {
	c := Config{Repo: e.Repo, State: e.State}
	if e.State != Valid {
		return c
	}
	var policy *rules.Policy
	base := ""
	if server != nil {
		policy, base = server.Policy, server.Defaults.BaseBranch
	}
	rs, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: e.Repo, Path: e.Path, Commit: e.Commit, BaseBranch: base}, e.Config, policy)
	if err != nil {
		c.State = Invalid
		return c
	}
	c.Rules = rs
	return c
}
