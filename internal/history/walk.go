package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// DefaultMaxCommits bounds a walk when Options.MaxCommits is 0, and
// MaxCommits bounds any walk: a year of a busy GitOps repository is tens of
// thousands of commits.
const (
	DefaultMaxCommits = 100_000
	MaxCommits        = 1_000_000
)

// MaxBlobSize bounds one target file's version; a larger one reads as
// unset (its change is still recorded, with an empty tag).
const MaxBlobSize = 10 << 20

// Options bound a walk.
type Options struct {
	// Repo keeps only the rules' services in this GitOps repository
	// (owner/name); "" keeps every service (an offline checkout).
	Repo string
	// MaxCommits is how many first-parent commits to walk at most; 0 means
	// DefaultMaxCommits; above MaxCommits is an error.
	MaxCommits int
}

// tracked is one target of one service in one environment.
type tracked struct {
	svc    *rules.Service
	env    string
	first  bool // the environment's first target: the one Current reports
	direct bool
	path   string
	spec   edit.Spec
}

type blobSpec struct {
	blob plumbing.Hash
	spec edit.Spec
}

type parsed struct {
	ref   string
	tag   string
	dig   string
	image string
	err   error
}

type walker struct {
	st       storer.EncodedObjectStorer
	rs       *rules.Rules
	byPath   map[string][]*tracked
	trie     *node
	trees    map[plumbing.Hash]*object.Tree
	blobs    map[plumbing.Hash][]byte
	parsed   map[blobSpec]parsed
	branches map[string]bool
}

type node struct {
	kids map[string]*node
	leaf bool
}

// Walk reads the first-parent history of head in st, newest first, and
// returns every change of every tracked target and what runs at head.
// rs should be expanded over head's tree (generators), as the offline
// commands and the checkout do. Targets resolve their file at head.
func Walk(ctx context.Context, st storer.EncodedObjectStorer, head plumbing.Hash, rs *rules.Rules, opt Options) (*History, error) {
	limit := opt.MaxCommits
	switch {
	case limit < 0 || limit > MaxCommits:
		return nil, fmt.Errorf("history: commit limit %d out of range (1 to %d)", limit, MaxCommits)
	case limit == 0:
		limit = DefaultMaxCommits
	}
	hc, err := object.GetCommit(st, head)
	if err != nil {
		return nil, fmt.Errorf("history: read head %s: %w", head, err)
	}
	headTree, err := hc.Tree()
	if err != nil {
		return nil, fmt.Errorf("history: tree of %s: %w", head, err)
	}
	w := &walker{st: st, rs: rs, byPath: map[string][]*tracked{}, trie: &node{},
		trees: map[plumbing.Hash]*object.Tree{}, blobs: map[plumbing.Hash][]byte{},
		parsed: map[blobSpec]parsed{}, branches: map[string]bool{}}
	order := w.track(headTree, opt.Repo)

	h := &History{Head: head.String(), Changes: []Change{}, Current: []Current{}}
	c := hc
	for h.Commits < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var parent *object.Commit
		if len(c.ParentHashes) > 0 {
			if parent, err = object.GetCommit(st, c.ParentHashes[0]); err != nil {
				if !errors.Is(err, plumbing.ErrObjectNotFound) { // a shallow clone ends here
					return nil, fmt.Errorf("history: read commit %s: %w", c.ParentHashes[0], err)
				}
				parent = nil
			}
		}
		h.Commits++
		if err := w.commit(c, parent, h); err != nil {
			return nil, err
		}
		if parent == nil {
			break
		}
		c = parent
	}
	h.Truncated = h.Commits >= limit && len(c.ParentHashes) > 0
	w.current(headTree, order, h)
	return h, nil
}

// track lists every target of every service (of repo) and builds the path
// trie the tree diff follows; it returns the targets in report order.
func (w *walker) track(headTree *object.Tree, repo string) []*tracked {
	exists := func(p string) bool {
		e, err := headTree.FindEntry(p)
		return err == nil && e.Mode.IsFile()
	}
	svcs := make([]*rules.Service, 0, len(w.rs.Services))
	for i := range w.rs.Services {
		s := &w.rs.Services[i]
		if repo == "" || strings.EqualFold(s.Repo, repo) {
			svcs = append(svcs, s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	var order []*tracked
	for _, svc := range svcs {
		for _, env := range w.rs.EnvNames() {
			settings, _ := w.rs.Env(svc.Name, env)
			if b, err := w.rs.Branch(env, svc.Name); err == nil {
				w.branches[b] = true
			}
			for i, t := range svc.Targets[env] {
				path, spec := planner.Locate(svc, t, exists)
				tr := &tracked{svc: svc, env: env, first: i == 0, direct: settings.Direct, path: path, spec: spec}
				order = append(order, tr)
				if w.byPath[path] == nil {
					w.addPath(path)
				}
				w.byPath[path] = append(w.byPath[path], tr)
			}
		}
	}
	return order
}

func (w *walker) addPath(p string) {
	n := w.trie
	for _, part := range strings.Split(p, "/") {
		if n.kids == nil {
			n.kids = map[string]*node{}
		}
		k := n.kids[part]
		if k == nil {
			k = &node{}
			n.kids[part] = k
		}
		n = k
	}
	n.leaf = true
}

type pathChange struct {
	path     string
	old, new plumbing.Hash // zero when the file is absent
}

// commit records the changes c made to tracked targets relative to parent
// (nil: the root commit, which adds every file it has).
func (w *walker) commit(c, parent *object.Commit, h *History) error {
	var pt plumbing.Hash
	if parent != nil {
		pt = parent.TreeHash
	}
	var pcs []pathChange
	if err := w.diff("", pt, c.TreeHash, w.trie, &pcs); err != nil {
		return err
	}
	if len(pcs) == 0 {
		return nil
	}
	o, err := w.origin(c)
	if err != nil {
		return err
	}
	var out []Change
	for _, pc := range pcs {
		for _, tr := range w.byPath[pc.path] {
			from, to := w.parse(pc.old, tr.spec), w.parse(pc.new, tr.spec)
			if from.ref == to.ref {
				continue
			}
			ch := Change{Time: c.Committer.When, Commit: c.Hash.String(), Subject: subject(c.Message),
				Author:    Person{Name: c.Author.Name, Email: c.Author.Email, When: c.Author.When},
				Committer: Person{Name: c.Committer.Name, Email: c.Committer.Email, When: c.Committer.When},
				Service:   tr.svc.Name, Env: tr.env, Path: tr.path, From: from.ref, To: to.ref, Image: to.image, Origin: o}
			ch.Gates = append([]Gate(nil), o.Gates...)
			if ch.Via == ViaDirect && !tr.direct {
				ch.Via = ViaPR // promobot's commit, rebased onto the base branch by a merge
			}
			if ch.Ticket == "" {
				ch.Ticket = w.rs.FindTicket(tr.svc.Name, tr.env, c.Message)
			}
			out = append(out, ch)
		}
	}
	order := map[string]int{}
	for i, e := range w.rs.EnvNames() {
		order[e] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Env != b.Env {
			return order[a.Env] < order[b.Env]
		}
		return a.Path < b.Path
	})
	h.Changes = append(h.Changes, out...)
	return nil
}

// diff appends the tracked files under n that differ between trees a and b.
func (w *walker) diff(prefix string, a, b plumbing.Hash, n *node, out *[]pathChange) error {
	if a == b {
		return nil
	}
	ta, err := w.tree(a)
	if err != nil {
		return err
	}
	tb, err := w.tree(b)
	if err != nil {
		return err
	}
	for name, kid := range n.kids {
		ea, eb := entry(ta, name), entry(tb, name)
		if ea == eb {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "/" + name
		}
		if kid.leaf {
			fa, fb := fileHash(ta, name), fileHash(tb, name)
			if fa != fb {
				*out = append(*out, pathChange{path: p, old: fa, new: fb})
			}
		}
		if len(kid.kids) > 0 {
			if err := w.diff(p, dirHash(ta, name), dirHash(tb, name), kid, out); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) tree(h plumbing.Hash) (*object.Tree, error) {
	if h.IsZero() {
		return nil, nil
	}
	if t, ok := w.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(w.st, h)
	if err != nil {
		return nil, fmt.Errorf("history: read tree %s: %w", h, err)
	}
	if len(w.trees) >= 1<<14 {
		clear(w.trees) // consecutive commits share most trees; an old one is rarely asked again
	}
	w.trees[h] = t
	return t, nil
}

func find(t *object.Tree, name string) *object.TreeEntry {
	if t == nil {
		return nil
	}
	e, err := t.FindEntry(name)
	if err != nil {
		return nil
	}
	return e
}

func entry(t *object.Tree, name string) plumbing.Hash {
	if e := find(t, name); e != nil {
		return e.Hash
	}
	return plumbing.ZeroHash
}

// fileHash is name's blob when it is a regular file (a symlink or
// submodule never holds a tag promobot reads).
func fileHash(t *object.Tree, name string) plumbing.Hash {
	if e := find(t, name); e != nil && e.Mode.IsFile() && e.Mode != filemode.Symlink {
		return e.Hash
	}
	return plumbing.ZeroHash
}

func dirHash(t *object.Tree, name string) plumbing.Hash {
	if e := find(t, name); e != nil && e.Mode == filemode.Dir {
		return e.Hash
	}
	return plumbing.ZeroHash
}

// parse reads what one version of a file runs for spec, once per blob.
func (w *walker) parse(blob plumbing.Hash, spec edit.Spec) parsed {
	if blob.IsZero() {
		return parsed{}
	}
	k := blobSpec{blob, spec}
	if p, ok := w.parsed[k]; ok {
		return p
	}
	var p parsed
	data, err := w.blob(blob)
	if err == nil {
		var r edit.Ref
		r, err = edit.Get(data, spec)
		p.ref, p.tag, p.dig = r.String(), r.Tag, r.Digest
		if err == nil {
			p.image, _ = edit.Image(data, spec) // the tag was read, so the entry is there
		}
	}
	p.err = err
	w.parsed[k] = p
	return p
}

func (w *walker) blob(h plumbing.Hash) ([]byte, error) {
	if b, ok := w.blobs[h]; ok {
		return b, nil
	}
	o, err := w.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("history: read blob %s: %w", h, err)
	}
	if o.Size() > MaxBlobSize {
		return nil, fmt.Errorf("history: blob %s is %d bytes, over %d", h, o.Size(), MaxBlobSize)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("history: read blob %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("history: read blob %s: %w", h, err)
	}
	if len(w.blobs) >= 1<<12 {
		clear(w.blobs)
	}
	w.blobs[h] = b
	return b, nil
}

// current fills what runs at head, and which change put it there.
func (w *walker) current(headTree *object.Tree, order []*tracked, h *History) {
	type key struct{ svc, env, path string }
	newest := map[key]int{}
	for i := len(h.Changes) - 1; i >= 0; i-- {
		c := h.Changes[i]
		newest[key{c.Service, c.Env, c.Path}] = i
	}
	last := -1
	for _, tr := range order {
		var blob plumbing.Hash
		if e, err := headTree.FindEntry(tr.path); err == nil && e.Mode.IsFile() && e.Mode != filemode.Symlink {
			blob = e.Hash
		}
		p := w.parse(blob, tr.spec)
		if !tr.first {
			if last >= 0 && p.ref != h.Current[last].Ref {
				h.Current[last].Mixed = true
			}
			continue
		}
		cur := Current{Service: tr.svc.Name, Env: tr.env, Path: tr.path, Ref: p.ref, Tag: p.tag, Digest: p.dig, Image: p.image}
		switch {
		case blob.IsZero():
			cur.Error = "no file " + tr.path
		case p.err != nil:
			cur.Error = p.err.Error()
		}
		if i, ok := newest[key{tr.svc.Name, tr.env, tr.path}]; ok && h.Changes[i].To == p.ref {
			c := h.Changes[i]
			cur.Since, cur.Commit, cur.Author, cur.Origin = c.Time, c.Commit, c.Author, c.Origin
			cur.By = c.Requester
			if cur.By == "" {
				cur.By = c.Author.Name
			}
		}
		h.Current = append(h.Current, cur)
		last = len(h.Current) - 1
	}
}

func subject(msg string) string {
	s, _, _ := strings.Cut(msg, "\n")
	return strings.TrimSpace(s)
}
