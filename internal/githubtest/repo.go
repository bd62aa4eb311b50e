package githubtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/google/go-github/v60/github"
)

// repo is one hosted repository. All fields are guarded by Server.mu.
type repo struct {
	id            int64
	owner, name   string
	dir           string
	defaultBranch string
	created       time.Time
	pushed        time.Time // last time a branch or tag moved
	issues        map[int]*issue
	nextNumber    int
	labels        []*label                        // the repository's labels, in creation order
	statuses      map[string][]*github.RepoStatus // by commit SHA, oldest first
	perms         map[string]string               // login -> admin|maintain|write|triage|read|none
	ciSt          *ciState                        // checks, protection, reviews, auto-merge (checks.go)
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

func (r *repo) open() (*git.Repository, error) {
	g, err := git.PlainOpen(r.dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.fullName(), err)
	}
	return g, nil
}

// runGit runs the git CLI in dir, isolated from the user's configuration.
func runGit(ctx context.Context, dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func validRepoName(full string) (owner, name string, ok bool) {
	owner, name, ok = strings.Cut(full, "/")
	valid := func(s string) bool {
		if s == "" || s == "." || s == ".." || len(s) > 100 || strings.HasSuffix(s, ".git") {
			return false
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
		return true
	}
	return owner, name, ok && valid(owner) && valid(name)
}

// CreateRepo creates fullName ("owner/name") with one commit holding files on
// defaultBranch (default "main"). It sends no webhook: it is fixture setup.
func (s *Server) CreateRepo(fullName, defaultBranch string, files map[string]string) error {
	owner, name, ok := validRepoName(fullName)
	if !ok {
		return fmt.Errorf("invalid repository name %q", fullName)
	}
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	if plumbing.NewBranchReferenceName(defaultBranch).Validate() != nil {
		return fmt.Errorf("invalid branch name %q", defaultBranch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[fullName] != nil {
		return fmt.Errorf("repository %s already exists", fullName)
	}
	dir := s.repoDir(fullName)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create repo dir: %w", err)
	}
	ctx := context.Background()
	if _, err := runGit(ctx, filepath.Dir(dir), nil, "init", "--bare", "--quiet", "--initial-branch="+defaultBranch, dir); err != nil {
		return err
	}
	for _, kv := range [][2]string{{"gc.auto", "0"}, {"http.receivepack", "true"}, {"receive.autogc", "false"}} {
		if _, err := runGit(ctx, dir, nil, "config", kv[0], kv[1]); err != nil {
			return err
		}
	}
	t := now()
	r := &repo{id: s.newID(), owner: owner, name: name, dir: dir, defaultBranch: defaultBranch, created: t, pushed: t,
		issues: map[int]*issue{}, statuses: map[string][]*github.RepoStatus{}, perms: map[string]string{}}
	s.seedDefaultLabels(r)
	g, err := r.open()
	if err != nil {
		return err
	}
	edits := map[string]*string{}
	for p, c := range files {
		c := c
		edits[p] = &c
	}
	tree, err := editTree(g.Storer, plumbing.ZeroHash, treeEdits(edits))
	if err != nil {
		return err
	}
	sig := object.Signature{Name: "Fixture", Email: "fixture@example.com", When: time.Now()}
	h, err := writeCommit(g.Storer, &object.Commit{Author: sig, Committer: sig, Message: "Initial commit\n", TreeHash: tree})
	if err != nil {
		return err
	}
	if err := g.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(defaultBranch), h)); err != nil {
		return fmt.Errorf("set ref: %w", err)
	}
	s.repos[fullName] = r
	return nil
}

func (s *Server) repoLocked(fullName string) (*repo, error) {
	r := s.repos[fullName]
	if r == nil {
		return nil, fmt.Errorf("repository %s not found", fullName)
	}
	return r, nil
}

// Commit commits files (nil content deletes) on branch as a person would push
// it, creating the branch from the default branch when missing, and sends push.
func (s *Server) Commit(repoName, branch string, files map[string]*string, message string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return "", err
	}
	g, err := r.open()
	if err != nil {
		return "", err
	}
	refName := plumbing.NewBranchReferenceName(branch)
	if err := refName.Validate(); err != nil {
		return "", fmt.Errorf("invalid branch %q: %w", branch, err)
	}
	old := branchHash(g, branch)
	parent := old
	if parent.IsZero() {
		parent = branchHash(g, r.defaultBranch)
	}
	var baseTree plumbing.Hash
	var parents []plumbing.Hash
	if !parent.IsZero() {
		pc, err := g.CommitObject(parent)
		if err != nil {
			return "", fmt.Errorf("read parent: %w", err)
		}
		baseTree, parents = pc.TreeHash, []plumbing.Hash{parent}
	}
	tree, err := editTree(g.Storer, baseTree, treeEdits(files))
	if err != nil {
		return "", err
	}
	sig := object.Signature{Name: "Test User", Email: "test@example.com", When: time.Now()}
	h, err := writeCommit(g.Storer, &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree, ParentHashes: parents})
	if err != nil {
		return "", err
	}
	if err := s.setRef(r, g, refName, old, h, s.user("test-user", "User")); err != nil {
		return "", err
	}
	return h.String(), nil
}

func branchHash(g *git.Repository, branch string) plumbing.Hash {
	ref, err := g.Storer.Reference(plumbing.NewBranchReferenceName(branch))
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// resolve turns a branch, tag, full ref or (abbreviated) SHA into a commit.
func resolve(g *git.Repository, rev string) (*object.Commit, error) {
	if rev == "" || strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, "^~:@{}\\ ") {
		return nil, errors.New("bad revision")
	}
	for _, n := range []plumbing.ReferenceName{plumbing.ReferenceName(rev), plumbing.NewBranchReferenceName(rev), plumbing.NewTagReferenceName(rev)} {
		if ref, err := g.Reference(n, true); err == nil {
			h := ref.Hash()
			if tag, err := g.TagObject(h); err == nil {
				h = tag.Target
			}
			return g.CommitObject(h)
		}
	}
	if isHex(rev) && len(rev) >= 4 {
		h, err := g.ResolveRevision(plumbing.Revision(rev))
		if err == nil {
			return g.CommitObject(*h)
		}
	}
	return nil, plumbing.ErrObjectNotFound
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// File reads path at ref (branch, tag or SHA).
func (s *Server) File(repoName, ref, p string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return nil, err
	}
	g, err := r.open()
	if err != nil {
		return nil, err
	}
	c, err := resolve(g, ref)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	f, err := c.File(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// Checkout writes the tree at ref into dir (created if needed).
func (s *Server) Checkout(repoName, ref, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return err
	}
	g, err := r.open()
	if err != nil {
		return err
	}
	c, err := resolve(g, ref)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", ref, err)
	}
	files, err := c.Files()
	if err != nil {
		return fmt.Errorf("list files: %w", err)
	}
	return files.ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() {
			return nil
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(dst, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("path %q leaves the checkout", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
		content, err := f.Contents()
		if err != nil {
			return fmt.Errorf("read %s: %w", f.Name, err)
		}
		perm := os.FileMode(0o644)
		if f.Mode == filemode.Executable {
			perm = 0o755
		}
		return os.WriteFile(dst, []byte(content), perm)
	})
}

// Branches maps branch names to head SHAs.
func (s *Server) Branches(repoName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	r := s.repos[repoName]
	if r == nil {
		return out
	}
	g, err := r.open()
	if err != nil {
		return out
	}
	refs, err := g.Storer.IterReferences()
	if err != nil {
		return out
	}
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
			out[ref.Name().Short()] = ref.Hash().String()
		}
		return nil
	})
	return out
}

// Diff is `git diff base head` (unified) between two revisions.
func (s *Server) Diff(repoName, base, head string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(repoName)
	if err != nil {
		return "", err
	}
	g, err := r.open()
	if err != nil {
		return "", err
	}
	bc, err := resolve(g, base)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", base, err)
	}
	hc, err := resolve(g, head)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", head, err)
	}
	out, err := runGit(context.Background(), r.dir, nil, "diff", "--no-color", "--no-ext-diff", bc.Hash.String(), hc.Hash.String())
	return string(out), err
}

// treeEdit changes one path: content (new blob), sha (existing object) or delete.
type treeEdit struct {
	path    string
	mode    filemode.FileMode
	content *[]byte
	sha     plumbing.Hash
	typ     string // "blob", "tree", "commit"
	delete  bool
}

func treeEdits(files map[string]*string) []treeEdit {
	var out []treeEdit
	for p, c := range files {
		e := treeEdit{path: p, mode: filemode.Regular, typ: "blob"}
		if c == nil {
			e.delete = true
		} else {
			b := []byte(*c)
			e.content = &b
		}
		out = append(out, e)
	}
	return out
}

// node is a tree under edit: entries by name, subtrees loaded lazily.
type node struct {
	entries map[string]object.TreeEntry
	subs    map[string]*node
}

func loadNode(st storer.EncodedObjectStorer, h plumbing.Hash) (*node, error) {
	n := &node{entries: map[string]object.TreeEntry{}, subs: map[string]*node{}}
	if h.IsZero() {
		return n, nil
	}
	t, err := object.GetTree(st, h)
	if err != nil {
		return nil, err
	}
	for _, e := range t.Entries {
		n.entries[e.Name] = e
	}
	return n, nil
}

func (n *node) sub(st storer.EncodedObjectStorer, name string, create bool) (*node, error) {
	if s := n.subs[name]; s != nil {
		return s, nil
	}
	e, ok := n.entries[name]
	var h plumbing.Hash
	if ok {
		if e.Mode != filemode.Dir {
			if !create {
				return nil, nil
			}
			delete(n.entries, name) // a file is replaced by a directory
		} else {
			h = e.Hash
		}
	} else if !create {
		return nil, nil
	}
	s, err := loadNode(st, h)
	if err != nil {
		return nil, err
	}
	n.subs[name] = s
	return s, nil
}

var errBadPath = errors.New("invalid tree path")

func splitPath(p string) ([]string, error) {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || len(p) > 4096 {
		return nil, errBadPath
	}
	parts := strings.Split(p, "/")
	for _, s := range parts {
		if s == "" || s == "." || s == ".." || s == ".git" || strings.ContainsAny(s, "\x00") {
			return nil, errBadPath
		}
	}
	return parts, nil
}

// editTree applies edits to base (zero: empty tree) and writes the new trees.
func editTree(st storer.EncodedObjectStorer, base plumbing.Hash, edits []treeEdit) (plumbing.Hash, error) {
	root, err := loadNode(st, base)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("load base tree: %w", err)
	}
	for _, e := range edits {
		parts, err := splitPath(e.path)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%w: %q", err, e.path)
		}
		n := root
		for _, dir := range parts[:len(parts)-1] {
			n, err = n.sub(st, dir, !e.delete)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if n == nil {
				break
			}
		}
		if n == nil {
			continue // deleting below a missing directory is a no-op
		}
		leaf := parts[len(parts)-1]
		if e.delete {
			delete(n.entries, leaf)
			delete(n.subs, leaf)
			continue
		}
		h := e.sha
		if e.content != nil {
			if h, err = writeBlob(st, *e.content); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		delete(n.subs, leaf)
		n.entries[leaf] = object.TreeEntry{Name: leaf, Mode: e.mode, Hash: h}
	}
	h, _, err := writeNode(st, root)
	return h, err
}

// writeNode writes n bottom-up; empty directories vanish as in git.
func writeNode(st storer.EncodedObjectStorer, n *node) (plumbing.Hash, bool, error) {
	for name, sub := range n.subs {
		h, empty, err := writeNode(st, sub)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if empty {
			delete(n.entries, name)
		} else {
			n.entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}
	t := &object.Tree{}
	for _, e := range n.entries {
		t.Entries = append(t.Entries, e)
	}
	// git orders entries as if directory names ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(t.Entries, func(i, j int) bool { return key(t.Entries[i]) < key(t.Entries[j]) })
	obj := st.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("encode tree: %w", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("store tree: %w", err)
	}
	return h, len(t.Entries) == 0, nil
}

func writeBlob(st storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("blob writer: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("close blob: %w", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	return h, nil
}

func writeCommit(st storer.EncodedObjectStorer, c *object.Commit) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store commit: %w", err)
	}
	return h, nil
}

// fileChanges lists paths added, removed and modified from parent to c.
func fileChanges(c *object.Commit) (added, removed, modified []string, err error) {
	to, err := c.Tree()
	if err != nil {
		return nil, nil, nil, err
	}
	var from *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return nil, nil, nil, err
		}
		if from, err = p.Tree(); err != nil {
			return nil, nil, nil, err
		}
	}
	return treeChanges(from, to)
}

func treeChanges(from, to *object.Tree) (added, removed, modified []string, err error) {
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("diff trees: %w", err)
	}
	added, removed, modified = []string{}, []string{}, []string{}
	for _, ch := range changes {
		switch {
		case ch.From.Name == "":
			added = append(added, ch.To.Name)
		case ch.To.Name == "":
			removed = append(removed, ch.From.Name)
		default:
			modified = append(modified, ch.To.Name)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(modified)
	return added, removed, modified, nil
}

// mergeBase is the best common ancestor of a and b (zero when unrelated).
func mergeBase(g *git.Repository, a, b plumbing.Hash) (plumbing.Hash, error) {
	ca, err := g.CommitObject(a)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	cb, err := g.CommitObject(b)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("merge base: %w", err)
	}
	if len(bases) == 0 {
		return plumbing.ZeroHash, nil
	}
	return bases[0].Hash, nil
}

// isAncestor reports whether a is reachable from b.
func isAncestor(g *git.Repository, a, b plumbing.Hash) bool {
	if a == b {
		return true
	}
	ca, err := g.CommitObject(a)
	if err != nil {
		return false
	}
	cb, err := g.CommitObject(b)
	if err != nil {
		return false
	}
	ok, err := ca.IsAncestor(cb)
	return err == nil && ok
}

// user builds a GitHub user object with a stable id derived from the login,
// with every member GitHub's simple-user object has.
func (s *Server) user(login, typ string) *github.User {
	h := fnv.New32a()
	_, _ = h.Write([]byte(login))
	id := int64(h.Sum32()%90000000) + 10000
	if typ == "" {
		typ = "User"
	}
	api := s.APIURL() + "users/" + login
	u := &github.User{
		Login: github.String(login), ID: github.Int64(id), Type: github.String(typ),
		NodeID:            github.String(fmt.Sprintf("U_%d", id)),
		HTMLURL:           github.String(s.URL() + "/" + login),
		URL:               github.String(api),
		AvatarURL:         github.String(fmt.Sprintf("%s/avatars/u/%d", s.URL(), id)),
		GravatarID:        github.String(""),
		FollowersURL:      github.String(api + "/followers"),
		FollowingURL:      github.String(api + "/following{/other_user}"),
		GistsURL:          github.String(api + "/gists{/gist_id}"),
		StarredURL:        github.String(api + "/starred{/owner}{/repo}"),
		SubscriptionsURL:  github.String(api + "/subscriptions"),
		OrganizationsURL:  github.String(api + "/orgs"),
		ReposURL:          github.String(api + "/repos"),
		EventsURL:         github.String(api + "/events{/privacy}"),
		ReceivedEventsURL: github.String(api + "/received_events"),
		SiteAdmin:         github.Bool(false),
	}
	if typ == "Bot" {
		u.HTMLURL = github.String(s.URL() + "/apps/" + strings.TrimSuffix(login, "[bot]"))
	}
	return u
}

func (p *principal) asUser(s *Server) *github.User { return s.user(p.login, p.userType) }

// repoLinks is the repository object GitHub nests in other answers (a
// combined status, a pull request's head and base): identity, owner and the
// URL templates.
func (s *Server) repoLinks(r *repo) *github.Repository {
	base := s.APIURL() + "repos/" + r.fullName()
	u := func(suffix string) *string { return github.String(base + suffix) }
	return &github.Repository{
		ID: github.Int64(r.id), NodeID: github.String(fmt.Sprintf("R_%d", r.id)),
		Name: github.String(r.name), FullName: github.String(r.fullName()),
		Owner: s.user(r.owner, "Organization"), Private: github.Bool(true), Fork: github.Bool(false),
		HTMLURL: github.String(s.URL() + "/" + r.fullName()),
		URL:     github.String(base),

		ForksURL: u("/forks"), KeysURL: u("/keys{/key_id}"), CollaboratorsURL: u("/collaborators{/collaborator}"),
		TeamsURL: u("/teams"), HooksURL: u("/hooks"), IssueEventsURL: u("/issues/events{/number}"),
		EventsURL: u("/events"), AssigneesURL: u("/assignees{/user}"), BranchesURL: u("/branches{/branch}"),
		TagsURL: u("/tags"), BlobsURL: u("/git/blobs{/sha}"), GitTagsURL: u("/git/tags{/sha}"),
		GitRefsURL: u("/git/refs{/sha}"), TreesURL: u("/git/trees{/sha}"), StatusesURL: u("/statuses/{sha}"),
		LanguagesURL: u("/languages"), StargazersURL: u("/stargazers"), ContributorsURL: u("/contributors"),
		SubscribersURL: u("/subscribers"), SubscriptionURL: u("/subscription"), CommitsURL: u("/commits{/sha}"),
		GitCommitsURL: u("/git/commits{/sha}"), CommentsURL: u("/comments{/number}"),
		IssueCommentURL: u("/issues/comments{/number}"), ContentsURL: u("/contents/{+path}"),
		CompareURL: u("/compare/{base}...{head}"), MergesURL: u("/merges"), ArchiveURL: u("/{archive_format}{/ref}"),
		DownloadsURL: u("/downloads"), IssuesURL: u("/issues{/number}"), PullsURL: u("/pulls{/number}"),
		MilestonesURL: u("/milestones{/number}"), NotificationsURL: u("/notifications{?since,all,participating}"),
		LabelsURL: u("/labels{/name}"), ReleasesURL: u("/releases{/id}"), DeploymentsURL: u("/deployments"),
	}
}

// repoJSON is the full repository object ("Get a repository", and the
// repository of webhook payloads).
func (s *Server) repoJSON(r *repo) *github.Repository {
	out := s.repoLinks(r)
	host := strings.TrimPrefix(strings.TrimPrefix(s.URL(), "http://"), "https://")
	open := 0
	for _, is := range r.issues {
		if is.state == "open" {
			open++
		}
	}
	zero := func() *int { return github.Int(0) }
	out.CloneURL = github.String(s.URL() + "/" + r.fullName() + ".git")
	out.GitURL = github.String("git://" + host + "/" + r.fullName() + ".git")
	out.SSHURL = github.String("git@" + host + ":" + r.fullName() + ".git")
	out.SVNURL = out.HTMLURL
	out.DefaultBranch = github.String(r.defaultBranch)
	out.Visibility = github.String("private")
	out.CreatedAt, out.UpdatedAt, out.PushedAt = ts(r.created), ts(r.created), ts(r.pushed)
	out.Size, out.StargazersCount, out.WatchersCount, out.Watchers = zero(), zero(), zero(), zero()
	out.ForksCount, out.NetworkCount, out.SubscribersCount = zero(), zero(), zero()
	out.OpenIssuesCount, out.OpenIssues = github.Int(open), github.Int(open)
	out.HasIssues, out.HasProjects, out.HasDownloads, out.HasWiki = github.Bool(true), github.Bool(false), github.Bool(true), github.Bool(false)
	out.HasPages, out.Archived, out.Disabled, out.IsTemplate = github.Bool(false), github.Bool(false), github.Bool(false), github.Bool(false)
	out.AllowForking, out.WebCommitSignoffRequired = github.Bool(false), github.Bool(false)
	st := r.ci().settings
	out.AllowSquashMerge, out.AllowMergeCommit, out.AllowRebaseMerge = github.Bool(st.AllowSquashMerge), github.Bool(st.AllowMergeCommit), github.Bool(st.AllowRebaseMerge)
	out.AllowAutoMerge = github.Bool(st.AllowAutoMerge)
	out.DeleteBranchOnMerge, out.AllowUpdateBranch = github.Bool(false), github.Bool(false)
	out.UseSquashPRTitleAsDefault = github.Bool(false)
	out.Permissions = map[string]bool{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
	return out
}

// repoResponse is "Get a repository": the full object plus the members
// go-github's Repository lacks or omits when empty.
type repoResponse struct {
	*github.Repository
	Forks          int          `json:"forks"`
	TempCloneToken string       `json:"temp_clone_token"`
	Topics         []string     `json:"topics"`
	Organization   *github.User `json:"organization"`
}

func (s *Server) repoResponse(r *repo) repoResponse {
	return repoResponse{Repository: s.repoJSON(r), Topics: []string{}, Organization: s.user(r.owner, "Organization")}
}

func (s *Server) htmlURL(r *repo, parts ...string) string {
	return s.URL() + "/" + path.Join(append([]string{r.fullName()}, parts...)...)
}

func (s *Server) apiURL(r *repo, parts ...string) string {
	return s.APIURL() + path.Join(append([]string{"repos", r.fullName()}, parts...)...)
}
