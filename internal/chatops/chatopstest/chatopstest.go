// Package chatopstest fakes what ChatOps needs from the outside: GitHub's
// few calls and the reply store.
package chatopstest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/chatops"
)

// Login is the login the fake's replies are posted as, by default: an
// App's bot user.
const Login = "promobot[bot]"

// Identity is a chatops.Commands.Self that answers login.
func Identity(login string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return login, nil }
}

// GitHub is an in-memory chatops.GitHub for one repository and one issue.
// Every call is logged in Calls ("react 7 eyes"); Fail makes every call of
// a verb fail with its error, Lost makes a write (create, edit, react) take
// effect and then fail with its error, as when GitHub's answer is lost.
type GitHub struct {
	Perms    map[string]string // user → permission; absent: 404
	Members  map[string]string // "org/slug user" → membership state; absent: 404
	PR       chatops.PullRequest
	Files    []string
	Comments []chatops.Comment
	PerPage  int              // page size of lists; 0: everything on one page
	Fail     map[string]error // verb → error
	Lost     map[string]error // verb → error after the effect
	Calls    []string
	// Self is the login replies are posted as; default Login. UserType is
	// its account type; default "Bot" ("User" for a personal access token).
	Self, SelfType string
	Reactions      []string // "7 eyes", one per reaction that took effect

	mu sync.Mutex
}

func (g *GitHub) call(verb string, args ...any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Calls = append(g.Calls, strings.TrimSpace(fmt.Sprintln(append([]any{verb}, args...)...)))
	return g.Fail[verb]
}

func (g *GitHub) lost(verb string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.Lost[verb]
}

func (g *GitHub) self() (string, string) {
	login, typ := g.Self, g.SelfType
	if login == "" {
		login = Login
	}
	if typ == "" {
		typ = "Bot"
	}
	return login, typ
}

func (g *GitHub) Permission(_ context.Context, _, user string) (string, error) {
	if err := g.call("permission", user); err != nil {
		return "", err
	}
	return found(g.Perms, user)
}

func (g *GitHub) TeamMembership(_ context.Context, org, slug, user string) (string, error) {
	if err := g.call("membership", org+"/"+slug, user); err != nil {
		return "", err
	}
	return found(g.Members, org+"/"+slug+" "+user)
}

// React adds a reaction once, as GitHub does (a repeat answers the
// existing one).
func (g *GitHub) React(_ context.Context, _ string, id int64, content string) error {
	if err := g.call("react", id, content); err != nil {
		return err
	}
	g.mu.Lock()
	r := fmt.Sprint(id, " ", content)
	if !slices.Contains(g.Reactions, r) {
		g.Reactions = append(g.Reactions, r)
	}
	g.mu.Unlock()
	return g.lost("react")
}

func (g *GitHub) PullRequest(_ context.Context, _ string, n int) (chatops.PullRequest, error) {
	return g.PR, g.call("pr", n)
}

func (g *GitHub) PullRequestFiles(_ context.Context, _ string, n, p int) ([]string, int, error) {
	if err := g.call("files", n, p); err != nil {
		return nil, 0, err
	}
	fs, next := page(g.Files, g.PerPage, p)
	return fs, next, nil
}

func (g *GitHub) IssueComments(_ context.Context, _ string, n, p int) ([]chatops.Comment, int, error) {
	if err := g.call("comments", n, p); err != nil {
		return nil, 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	cs, next := page(g.Comments, g.PerPage, p)
	return append([]chatops.Comment(nil), cs...), next, nil
}

// CreateComment adds promobot's comment (Self) with the next id, from 1001 up.
func (g *GitHub) CreateComment(_ context.Context, _ string, n int, body string) (int64, error) {
	if err := g.call("create", n); err != nil {
		return 0, err
	}
	login, typ := g.self()
	g.mu.Lock()
	id := int64(1001 + len(g.Comments))
	g.Comments = append(g.Comments, chatops.Comment{ID: id, Body: body, User: login, UserType: typ})
	g.mu.Unlock()
	if err := g.lost("create"); err != nil {
		return 0, err
	}
	return id, nil
}

func (g *GitHub) EditComment(_ context.Context, _ string, id int64, body string) error {
	if err := g.call("edit", id); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.Comments {
		if g.Comments[i].ID == id {
			g.Comments[i].Body = body
			return g.Lost["edit"]
		}
	}
	return Status(http.StatusNotFound)
}

// Bodies returns the bodies of the comments, oldest first.
func (g *GitHub) Bodies() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.Comments {
		out = append(out, c.Body)
	}
	return out
}

func found(m map[string]string, key string) (string, error) {
	if v, ok := m[key]; ok {
		return v, nil
	}
	return "", Status(http.StatusNotFound)
}

// page cuts page p (0 and 1 are the first) of size from all, and returns
// the next page's number, 0 after the last, as GitHub does.
func page[T any](all []T, size, p int) ([]T, int) {
	if size <= 0 {
		return all, 0
	}
	p = max(p, 1)
	lo := min((p-1)*size, len(all))
	hi := min(lo+size, len(all))
	if hi < len(all) {
		return all[lo:hi], p + 1
	}
	return all[lo:hi], 0
}

// Status is GitHub answering with an HTTP status code.
func Status(code int) error {
	return &github.ErrorResponse{Response: &http.Response{StatusCode: code}, Message: http.StatusText(code)}
}

// Replies is an in-memory chatops.Replies. Err, when set, fails every call.
type Replies struct {
	Records map[string]chatops.ReplyRecord
	Err     error

	mu sync.Mutex
}

func (r *Replies) GetReply(_ context.Context, key string) (chatops.ReplyRecord, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.Records[key]
	return rec, ok, r.Err
}

func (r *Replies) PutReply(_ context.Context, key string, rec chatops.ReplyRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Err != nil {
		return r.Err
	}
	if r.Records == nil {
		r.Records = map[string]chatops.ReplyRecord{}
	}
	r.Records[key] = rec
	return nil
}
