package history

import (
	"container/list"
	"context"
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
	k := cacheKey{repo: opt.Repo, rules: rs.Digest(), head: head.String(), limit: opt.MaxCommits}
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
