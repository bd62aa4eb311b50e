package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
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

// maxParsed bounds the file versions a History remembers having read, for
// the next walk from it.
const maxParsed = 200_000

// Options bound a walk.
type Options struct {
	// Repo keeps only the rules' services in this GitOps repository
	// (owner/name); "" keeps every service (an offline checkout).
	Repo string
	// MaxCommits is how many first-parent commits to walk at most; 0 means
	// DefaultMaxCommits; above MaxCommits is an error.
	MaxCommits int
	// Base is an earlier walk of the same branch, repository and rules: the
	// walk stops when it reaches Base's head and takes Base's changes from
	// there, so a new head costs only its new commits. A Base whose head is
	// not on the first-parent path is simply never reached.
	Base *History
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
	trees    map[plumbing.Hash][]byte
	blobs    map[plumbing.Hash][]byte
	parsed   map[blobSpec]parsed
	based    map[blobSpec]parsed // the Base walk's, read only: walks may share it
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
	headTree := hc.TreeHash
	w := &walker{st: st, rs: rs, byPath: map[string][]*tracked{}, trie: &node{},
		trees: map[plumbing.Hash][]byte{}, blobs: map[plumbing.Hash][]byte{},
		parsed: map[blobSpec]parsed{}, branches: map[string]bool{}}
	if opt.Base != nil {
		w.based = opt.Base.parsed
	}
	order := w.track(headTree, opt.Repo)

	h := &History{Head: head.String(), Changes: []Change{}, Current: []Current{}, Files: map[string]FileChange{}}
	c, based := hc, false
	for h.Commits < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if b := opt.Base; b != nil && b.Head == c.Hash.String() {
			h.Changes = append(h.Changes, b.Changes...)
			for p, f := range b.Files {
				if _, ok := h.Files[p]; !ok {
					h.Files[p] = f
				}
			}
			h.Commits += b.Commits
			h.Truncated = b.Truncated
			based = true
			break
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
	if !based {
		h.Truncated = h.Commits >= limit && len(c.ParentHashes) > 0
	}
	w.current(headTree, order, h)
	h.parsed = w.parsed
	if len(w.based) < maxParsed { // carry the base's forward, up to a bound
		h.parsed = make(map[blobSpec]parsed, len(w.based)+len(w.parsed))
		maps.Copy(h.parsed, w.based)
		maps.Copy(h.parsed, w.parsed)
	}
	return h, nil
}

// track lists every target of every service (of repo) and builds the path
// trie the tree diff follows; it returns the targets in report order.
func (w *walker) track(headTree plumbing.Hash, repo string) []*tracked {
	exists := func(p string) bool { return !w.fileAt(headTree, p).IsZero() }
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
		if _, ok := h.Files[pc.path]; !ok { // newest first: the first seen is the last change
			fo := o
			if trs := w.byPath[pc.path]; fo.Via == ViaDirect && len(trs) > 0 && !trs[0].direct {
				fo.Via = ViaPR
			}
			h.Files[pc.path] = FileChange{Path: pc.path, Time: c.Committer.When, Commit: c.Hash.String(),
				Author: Person{Name: c.Author.Name, Email: c.Author.Email, When: c.Author.When}, Origin: fo}
		}
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

// diff appends the tracked files under n that differ between trees a and
// b, walking both trees' entries in step (git keeps them sorted).
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
	ia, ib := treeIter{data: ta}, treeIter{data: tb}
	oka, okb := ia.next(), ib.next()
	for oka || okb {
		var ea, eb *rawEntry
		switch {
		case !oka:
			eb = &ib.e
		case !okb:
			ea = &ia.e
		default:
			switch c := gitCmp(&ia.e, &ib.e); {
			case c < 0:
				ea = &ia.e
			case c > 0:
				eb = &ib.e
			default:
				ea, eb = &ia.e, &ib.e
			}
		}
		// Copies: the iterators move on below.
		var ca, cb rawEntry
		if ea != nil {
			ca = *ea
			ea = &ca
			oka = ia.next()
		}
		if eb != nil {
			cb = *eb
			eb = &cb
			okb = ib.next()
		}
		if ea != nil && eb != nil && ea.hash == eb.hash && ea.mode == eb.mode {
			continue
		}
		name := eb
		if ea != nil {
			name = ea
		}
		kid := n.kids[string(name.name)]
		if kid == nil {
			continue
		}
		p := string(name.name)
		if prefix != "" {
			p = prefix + "/" + p
		}
		if kid.leaf {
			if fa, fb := fileOf(ea), fileOf(eb); fa != fb {
				*out = append(*out, pathChange{path: p, old: fa, new: fb})
			}
		}
		if len(kid.kids) > 0 {
			if err := w.diff(p, dirOf(ea), dirOf(eb), kid, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileOf is e's blob when it is a regular file (a symlink or submodule
// never holds a tag promobot reads).
func fileOf(e *rawEntry) plumbing.Hash {
	if isFile(e) {
		return e.hash
	}
	return plumbing.ZeroHash
}

func dirOf(e *rawEntry) plumbing.Hash {
	if e != nil && e.mode == filemode.Dir {
		return e.hash
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
	if p, ok := w.based[k]; ok {
		return p
	}
	var p parsed
	data, err := w.blob(blob)
	if err == nil {
		var r edit.Ref
		r, p.image, err = edit.GetImage(data, spec)
		p.ref, p.tag, p.dig = r.String(), r.Tag, r.Digest
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
func (w *walker) current(headTree plumbing.Hash, order []*tracked, h *History) {
	type key struct{ svc, env, path string }
	newest := map[key]int{}
	for i := len(h.Changes) - 1; i >= 0; i-- {
		c := h.Changes[i]
		newest[key{c.Service, c.Env, c.Path}] = i
	}
	last := -1
	for _, tr := range order {
		blob := w.fileAt(headTree, tr.path)
		p := w.parse(blob, tr.spec)
		if !tr.first {
			if last >= 0 && p.ref != h.Current[last].Ref {
				h.Current[last].Mixed = true
			}
			if f, ok := h.Files[tr.path]; ok && last >= 0 {
				if le := h.Current[last].LastEdit; le == nil || f.Time.After(le.Time) {
					h.Current[last].LastEdit = &f
				}
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
		if f, ok := h.Files[tr.path]; ok {
			cur.LastEdit = &f
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
