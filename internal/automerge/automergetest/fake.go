// Package automergetest is an in-memory automerge.GitHub for tests.
package automergetest

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/automerge"
)

// Fake is one repository's merge settings and pull requests. Set fields
// before use; methods are safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	Repo     automerge.Settings
	Pulls    map[int]*automerge.Pull
	Comments map[int][]automerge.Comment
	// EnableErr is what EnableAutoMerge answers (nil: it enables).
	EnableErr error
	// MergeStatus, when not 0, is the HTTP status Merge fails with.
	MergeStatus int
	// Calls lists the calls made, in order ("settings", "pull 1",
	// "enable PR_1 squash", "merge 1 squash", "comment 1").
	Calls []string
}

// New returns a fake with one open pull request #1 (node PR_1, head "h1").
func New(s automerge.Settings) *Fake {
	return &Fake{Repo: s, Pulls: map[int]*automerge.Pull{1: {Number: 1, NodeID: "PR_1", State: "open", HeadSHA: "h1"}}, Comments: map[int][]automerge.Comment{}}
}

func (f *Fake) call(format string, a ...any) {
	f.Calls = append(f.Calls, fmt.Sprintf(format, a...))
}

// Settings implements automerge.GitHub.
func (f *Fake) Settings(_ context.Context, _ string) (automerge.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("settings")
	return f.Repo, nil
}

// Pull implements automerge.GitHub.
func (f *Fake) Pull(_ context.Context, _ string, n int) (automerge.Pull, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("pull %d", n)
	p, ok := f.Pulls[n]
	if !ok {
		return automerge.Pull{}, notFound()
	}
	return *p, nil
}

// EnableAutoMerge implements automerge.GitHub.
func (f *Fake) EnableAutoMerge(_ context.Context, id, method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("enable %s %s", id, method)
	if f.EnableErr != nil {
		return f.EnableErr
	}
	for _, p := range f.Pulls {
		if p.NodeID == id {
			p.AutoMerge = true
		}
	}
	return nil
}

// Merge implements automerge.GitHub.
func (f *Fake) Merge(_ context.Context, _ string, n int, head, method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("merge %d %s", n, method)
	if f.MergeStatus != 0 {
		return &github.ErrorResponse{Response: &http.Response{StatusCode: f.MergeStatus}, Message: "Required status check \"ci\" is failing."}
	}
	p, ok := f.Pulls[n]
	if !ok {
		return notFound()
	}
	if p.HeadSHA != head {
		return &github.ErrorResponse{Response: &http.Response{StatusCode: http.StatusConflict}, Message: "Head branch was modified."}
	}
	p.Merged, p.State = true, "closed"
	return nil
}

// ListComments implements automerge.GitHub.
func (f *Fake) ListComments(_ context.Context, _ string, n int) ([]automerge.Comment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]automerge.Comment(nil), f.Comments[n]...), nil
}

// CreateComment implements automerge.GitHub.
func (f *Fake) CreateComment(_ context.Context, _ string, n int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("comment %d", n)
	f.Comments[n] = append(f.Comments[n], automerge.Comment{ID: int64(len(f.Comments[n]) + 1), Body: body})
	return nil
}

// Commented returns the comments on pull request n.
func (f *Fake) Commented(n int) []automerge.Comment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]automerge.Comment(nil), f.Comments[n]...)
}

func notFound() error {
	return &github.ErrorResponse{Response: &http.Response{StatusCode: http.StatusNotFound}, Message: "Not Found"}
}
