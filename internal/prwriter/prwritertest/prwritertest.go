// Package prwritertest is an in-memory prwriter.GitHub for unit tests. It
// keeps one repository's branches, commits, pull requests and comments and
// answers the way GitHub does where the writer depends on it: 422 for a
// branch or an open pull request that already exists, for a push that is
// not a fast-forward, for a forced update of a branch that forbids force
// pushes and for a review request naming someone who cannot review; 404
// for an unknown pull request or comment or another repository.
// Contract tests against the GitHub test server check that the real API
// agrees.
package prwritertest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/prwriter"
)

// Commit is a commit the fake made: its parents (Parent is the first) and
// the files its tree wrote, with their modes.
type Commit struct {
	Message string
	Parent  string
	Parents []string
	Files   map[string][]byte
	Modes   map[string]string
}

// Comment is a comment on a pull request.
type Comment struct {
	ID     int64
	Number int
	Body   string
}

// Pull is a pull request as the fake holds it.
type Pull struct {
	prwriter.PR
	Title, Body, Head, Base string
	Users, Teams, Labels    []string
	Merged                  bool
}

// Status is a commit status the fake was given.
type Status struct {
	SHA string
	prwriter.CommitStatus
}

// GitHub is the fake; its methods are prwriter.GitHub's. Make one with
// New, arrange its fields before the code under test runs, and read them
// once it has returned (Calls and Pull may be used at any time).
type GitHub struct {
	// Repo is the only repository that exists (owner/name).
	Repo string
	// Branches maps a branch to the commit it points at.
	Branches map[string]string
	Commits  map[string]*Commit
	Pulls    []*Pull
	Statuses []Status
	Comments []*Comment
	// MergeableState is what GetPull reports; "clean" lets auto-merge merge.
	MergeableState string
	// NoForce maps a branch that forbids force pushes to GitHub's answer
	// to a forced update that is not a fast-forward (422).
	NoForce map[string]string
	// Unreviewable maps a login or team slug that cannot review to
	// GitHub's answer to a review request naming it (422, nobody asked).
	Unreviewable map[string]string
	// Fail makes a method, by name ("UpdateRef"), fail with the error
	// instead of acting.
	Fail map[string]error

	mu    sync.Mutex
	calls []string
	blobs map[string][]byte
	trees map[string]map[string][]byte
	modes map[string]map[string]string
	n     int
}

var _ prwriter.GitHub = (*GitHub)(nil)

// New returns a fake of repo whose branch main is at commit "base".
func New(repo string) *GitHub {
	return &GitHub{
		Repo:         repo,
		Branches:     map[string]string{"main": "base"},
		Commits:      map[string]*Commit{"base": {}},
		Fail:         map[string]error{},
		NoForce:      map[string]string{},
		Unreviewable: map[string]string{},
		blobs:        map[string][]byte{},
		trees:        map[string]map[string][]byte{},
		modes:        map[string]map[string]string{},
	}
}

// Err is GitHub answering with HTTP status code.
func Err(code int) error {
	return ErrMsg(code, http.StatusText(code))
}

// ErrMsg is GitHub answering with HTTP status code and message.
func ErrMsg(code int, message string) error {
	return &github.ErrorResponse{Response: &http.Response{StatusCode: code}, Message: message}
}

// Calls lists the methods called, in order.
func (g *GitHub) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// Pull returns pull request number (nil when none).
func (g *GitHub) Pull(number int) *Pull {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pull(number)
}

func (g *GitHub) pull(number int) *Pull {
	for _, p := range g.Pulls {
		if p.Number == number {
			return p
		}
	}
	return nil
}

// call records a call and says how it fails, if it does; g.mu is held.
func (g *GitHub) call(method, repo string) error {
	g.calls = append(g.calls, method)
	if err := g.Fail[method]; err != nil {
		return err
	}
	if repo != g.Repo {
		return Err(http.StatusNotFound)
	}
	return nil
}

func (g *GitHub) sha(kind string) string {
	g.n++
	return fmt.Sprintf("%s%d", kind, g.n)
}

func (g *GitHub) CreateBlob(_ context.Context, repo string, content []byte) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreateBlob", repo); err != nil {
		return "", err
	}
	sha := g.sha("blob")
	g.blobs[sha] = slices.Clone(content)
	return sha, nil
}

func (g *GitHub) CreateTree(_ context.Context, repo, _ string, entries []prwriter.TreeEntry) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreateTree", repo); err != nil {
		return "", err
	}
	files, modes := map[string][]byte{}, map[string]string{}
	for _, e := range entries {
		switch e.Mode {
		case "", "100644", "100755":
		default:
			return "", Err(http.StatusUnprocessableEntity)
		}
		modes[e.Path] = e.Mode
		if modes[e.Path] == "" {
			modes[e.Path] = "100644"
		}
		if e.SHA == "" {
			files[e.Path] = []byte(e.Content)
			continue
		}
		b, ok := g.blobs[e.SHA]
		if !ok {
			return "", Err(http.StatusUnprocessableEntity)
		}
		files[e.Path] = b
	}
	sha := g.sha("tree")
	g.trees[sha], g.modes[sha] = files, modes
	return sha, nil
}

func (g *GitHub) CreateCommit(_ context.Context, repo, message, tree string, parents ...string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreateCommit", repo); err != nil {
		return "", err
	}
	files, ok := g.trees[tree]
	if !ok || len(parents) == 0 {
		return "", Err(http.StatusUnprocessableEntity)
	}
	for _, p := range parents {
		if _, known := g.Commits[p]; !known {
			return "", Err(http.StatusUnprocessableEntity)
		}
	}
	sha := g.sha("commit")
	g.Commits[sha] = &Commit{Message: message, Parent: parents[0], Parents: slices.Clone(parents), Files: files, Modes: g.modes[tree]}
	return sha, nil
}

// descends reports whether commit sha has ancestor among its ancestors
// (or is it); g.mu is held.
func (g *GitHub) descends(sha, ancestor string) bool {
	seen := map[string]bool{}
	todo := []string{sha}
	for len(todo) > 0 {
		c := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if c == ancestor {
			return true
		}
		if seen[c] || g.Commits[c] == nil {
			continue
		}
		seen[c] = true
		todo = append(todo, g.Commits[c].Parents...)
		if len(g.Commits[c].Parents) == 0 && g.Commits[c].Parent != "" {
			todo = append(todo, g.Commits[c].Parent)
		}
	}
	return false
}

func (g *GitHub) GetRef(_ context.Context, repo, branch string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("GetRef", repo); err != nil {
		return "", err
	}
	sha, ok := g.Branches[branch]
	if !ok {
		return "", Err(http.StatusNotFound)
	}
	return sha, nil
}

func (g *GitHub) CreateRef(_ context.Context, repo, branch, sha string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreateRef", repo); err != nil {
		return err
	}
	if _, ok := g.Branches[branch]; ok {
		return Err(http.StatusUnprocessableEntity)
	}
	g.Branches[branch] = sha
	return nil
}

func (g *GitHub) UpdateRef(_ context.Context, repo, branch, sha string, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("UpdateRef", repo); err != nil {
		return err
	}
	head, ok := g.Branches[branch]
	c := g.Commits[sha]
	ff := g.descends(sha, head)
	switch {
	case !ok:
		return ErrMsg(http.StatusUnprocessableEntity, "Reference does not exist")
	case c == nil:
		return ErrMsg(http.StatusUnprocessableEntity, "Object does not exist")
	case !force && !ff:
		return ErrMsg(http.StatusUnprocessableEntity, "Update is not a fast forward")
	case !ff && g.NoForce[branch] != "":
		return ErrMsg(http.StatusUnprocessableEntity, g.NoForce[branch])
	}
	g.Branches[branch] = sha
	return nil
}

func (g *GitHub) CreatePull(_ context.Context, repo string, np prwriter.NewPull) (prwriter.PR, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreatePull", repo); err != nil {
		return prwriter.PR{}, err
	}
	if _, ok := g.Branches[np.Head]; !ok || len(g.open(np.Head, np.Base)) > 0 {
		return prwriter.PR{}, Err(http.StatusUnprocessableEntity)
	}
	n := len(g.Pulls) + 1
	p := &Pull{
		PR:    prwriter.PR{Number: n, URL: fmt.Sprintf("https://github.com/%s/pull/%d", repo, n), State: "open"},
		Title: np.Title, Body: np.Body, Head: np.Head, Base: np.Base,
	}
	g.Pulls = append(g.Pulls, p)
	return g.read(p), nil
}

// read is what GitHub reports about p now.
func (g *GitHub) read(p *Pull) prwriter.PR {
	pr := p.PR
	pr.HeadSHA = g.Branches[p.Head]
	pr.MergeableState = g.MergeableState
	pr.Mergeable = pr.State == "open" && g.MergeableState == "clean"
	return pr
}

func (g *GitHub) open(head, base string) []prwriter.PR {
	var out []prwriter.PR
	for _, p := range g.Pulls {
		if p.State == "open" && p.Head == head && p.Base == base {
			out = append(out, g.read(p))
		}
	}
	return out
}

func (g *GitHub) EditPull(_ context.Context, repo string, number int, title, body string) (prwriter.PR, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("EditPull", repo); err != nil {
		return prwriter.PR{}, err
	}
	p := g.pull(number)
	if p == nil {
		return prwriter.PR{}, Err(http.StatusNotFound)
	}
	p.Title, p.Body = title, body
	return g.read(p), nil
}

func (g *GitHub) ListOpenPulls(_ context.Context, repo, head, base string) ([]prwriter.PR, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("ListOpenPulls", repo); err != nil {
		return nil, err
	}
	return g.open(head, base), nil
}

func (g *GitHub) GetPull(_ context.Context, repo string, number int) (prwriter.PR, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("GetPull", repo); err != nil {
		return prwriter.PR{}, err
	}
	p := g.pull(number)
	if p == nil {
		return prwriter.PR{}, Err(http.StatusNotFound)
	}
	return g.read(p), nil
}

func (g *GitHub) MergePull(_ context.Context, repo string, number int, headSHA string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("MergePull", repo); err != nil {
		return err
	}
	p := g.pull(number)
	switch {
	case p == nil:
		return Err(http.StatusNotFound)
	case p.State != "open" || g.MergeableState != "clean":
		return Err(http.StatusMethodNotAllowed)
	case g.Branches[p.Head] != headSHA:
		return Err(http.StatusConflict)
	}
	p.State, p.Merged = "closed", true
	return nil
}

func (g *GitHub) RequestReviewers(_ context.Context, repo string, number int, users, teams []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("RequestReviewers", repo); err != nil {
		return err
	}
	p := g.pull(number)
	if p == nil {
		return Err(http.StatusNotFound)
	}
	for _, who := range slices.Concat(users, teams) {
		if msg := g.Unreviewable[who]; msg != "" {
			return ErrMsg(http.StatusUnprocessableEntity, msg)
		}
	}
	p.Users, p.Teams = union(p.Users, users), union(p.Teams, teams)
	return nil
}

func (g *GitHub) AddLabels(_ context.Context, repo string, number int, labels []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("AddLabels", repo); err != nil {
		return err
	}
	p := g.pull(number)
	if p == nil {
		return Err(http.StatusNotFound)
	}
	p.Labels = union(p.Labels, labels)
	return nil
}

func (g *GitHub) ListComments(_ context.Context, repo string, number int) ([]prwriter.Comment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("ListComments", repo); err != nil {
		return nil, err
	}
	if g.pull(number) == nil {
		return nil, Err(http.StatusNotFound)
	}
	var out []prwriter.Comment
	for _, c := range g.Comments {
		if c.Number == number {
			out = append(out, prwriter.Comment{ID: c.ID, Body: c.Body})
		}
	}
	return out, nil
}

func (g *GitHub) CreateComment(_ context.Context, repo string, number int, body string) (prwriter.Comment, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("CreateComment", repo); err != nil {
		return prwriter.Comment{}, err
	}
	if g.pull(number) == nil {
		return prwriter.Comment{}, Err(http.StatusNotFound)
	}
	g.n++
	c := &Comment{ID: int64(g.n), Number: number, Body: body}
	g.Comments = append(g.Comments, c)
	return prwriter.Comment{ID: c.ID, Body: c.Body}, nil
}

func (g *GitHub) EditComment(_ context.Context, repo string, id int64, body string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.call("EditComment", repo); err != nil {
		return err
	}
	for _, c := range g.Comments {
		if c.ID == id {
			c.Body = body
			return nil
		}
	}
	return Err(http.StatusNotFound)
}

// PullComments returns the comments on pull request number, oldest first.
func (g *GitHub) PullComments(number int) []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, c := range g.Comments {
		if c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

func (g *GitHub) CreateStatus(_ context.Context, repo, sha string, s prwriter.CommitStatus) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Statuses also go to other repositories the installation reaches (the
	// build's source repository), so only Fail refuses them.
	g.calls = append(g.calls, "CreateStatus")
	if err := g.Fail["CreateStatus"]; err != nil {
		return err
	}
	g.Statuses = append(g.Statuses, Status{SHA: sha, CommitStatus: s})
	return nil
}

// union adds to a what it lacks of b: asking twice is asking once.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
