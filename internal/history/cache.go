package history

import (
	"container/list"
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/promobot/promobot/internal/rules"
)

// Cache keeps the last histories walked, one per repository, rules and
// head commit: a page or report asked again at the same head costs a map
// lookup. A History from the cache is shared: callers must not change it.
type Cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of cacheKey, most recent first
	m     map[cacheKey]*cacheEntry
	last  map[cacheKey]*History // per key without head: the newest walk, the next walk's Base
}

type cacheKey struct {
	repo, rules, head string
	limit             int
}

type cacheEntry struct {
	once sync.Once
	h    *History
	err  error
	el   *list.Element
}

// NewCache keeps up to n histories (at least 1).
func NewCache(n int) *Cache {
	return &Cache{max: max(n, 1), order: list.New(), m: map[cacheKey]*cacheEntry{}, last: map[cacheKey]*History{}}
}

// Walk returns Walk's answer for (opt.Repo, rs, head), walking only the
// first time it is asked; concurrent callers share one walk. A new head
// walks only the commits since the last head walked for the same
// repository and rules (Options.Base). A failed walk is not kept.
func (c *Cache) Walk(ctx context.Context, st storer.EncodedObjectStorer, head plumbing.Hash, rs *rules.Rules, opt Options) (*History, error) {
	k := cacheKey{repo: opt.Repo, rules: rulesKey(rs), head: head.String(), limit: opt.MaxCommits}
	c.mu.Lock()
	e := c.m[k]
	if e == nil {
		e = &cacheEntry{}
		e.el = c.order.PushFront(k)
		c.m[k] = e
		for c.order.Len() > c.max {
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.m, old.Value.(cacheKey))
		}
	} else {
		c.order.MoveToFront(e.el)
	}
	lk := k
	lk.head = ""
	if opt.Base == nil {
		opt.Base = c.last[lk]
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.h, e.err = Walk(ctx, st, head, rs, opt)
		if e.err == nil {
			c.mu.Lock()
			if len(c.last) >= 4*c.max {
				clear(c.last) // rules reloaded many times: start over
			}
			c.last[lk] = e.h
			c.mu.Unlock()
		}
	})
	if e.err != nil {
		c.mu.Lock()
		if c.m[k] == e {
			c.order.Remove(e.el)
			delete(c.m, k)
		}
		c.mu.Unlock()
	}
	return e.h, e.err
}

// rulesKey tells apart rules that share a file but not their services:
// generators expanded over different commits. A walk is a valid Base only
// for the same services and targets (a new service's past is not in it).
func rulesKey(rs *rules.Rules) string {
	f := fnv.New64a()
	envs := rs.EnvNames()
	for i := range rs.Services {
		svc := &rs.Services[i]
		f.Write([]byte(svc.Name + "\x00" + svc.Repo + "\x00"))
		for _, env := range envs {
			for _, t := range svc.Targets[env] {
				f.Write([]byte(env + "\x00" + t.Kustomize + "\x00" + t.Helm + "\x00" + t.Field + "\x00" + t.Manifest + "\x00" + t.Container + "\x00"))
			}
		}
	}
	return fmt.Sprintf("%s/%d/%x", rs.Digest(), len(rs.Services), f.Sum64())
}
