package ghretry_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

func TestReplayable(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/repos/acme/gitops/issues/5/comments", true},
		{"HEAD", "/repos/acme/gitops", true},
		{"PATCH", "/repos/acme/gitops/issues/comments/9", true},
		{"PATCH", "/repos/acme/gitops/git/refs/heads/promobot/prod/web", true},
		{"PUT", "/repos/acme/gitops/pulls/3/merge", true},
		{"DELETE", "/repos/acme/gitops/git/refs/heads/x", true},
		{"POST", "/repos/acme/gitops/git/blobs", true},
		{"POST", "/repos/acme/gitops/git/trees", true},
		{"POST", "/api/v3/repos/acme/gitops/git/commits", true},
		{"POST", "/repos/acme/gitops/git/refs", true},
		{"POST", "/repos/acme/gitops/pulls", true},
		{"POST", "/repos/acme/gitops/pulls/3/requested_reviewers", true},
		{"POST", "/repos/acme/gitops/issues/3/labels", true},
		{"POST", "/repos/acme/gitops/statuses/0123456789abcdef0123456789abcdef01234567", true},
		{"POST", "/repos/acme/gitops/issues/comments/9/reactions", true},
		{"POST", "/api/v3/app/installations/77/access_tokens", true},
		{"POST", "/app/installations/77/access_tokens", true},
		{"POST", "/repos/acme/gitops/issues/5/comments", false},
		{"POST", "/api/v3/repos/acme/gitops/issues/5/comments", false},
		{"POST", "/repos/acme/gitops/pulls/5/comments", false},
		{"POST", "/repos/acme/gitops/pulls/5/reviews", false},
		{"POST", "/repos/acme/gitops/commits/abc/comments", false},
		{"POST", "/repos/acme/gitops/issues", false},
		{"POST", "/repos/acme/gitops/dispatches", false},
		{"POST", "/repos/acme//pulls", false},
		{"POST", "/graphql", false},
		{"CONNECT", "/repos/acme/gitops", false},
		// A repository named like a route segment is still a repository.
		{"POST", "/repos/repos/app/git/trees", true},
		{"POST", "/repos/app/repos/issues/1/comments", false},
	} {
		if got := ghretry.Replayable(tc.method, tc.path); got != tc.want {
			t.Errorf("Replayable(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestUnsafePostNotReplayed: a comment's POST whose outcome is unknown
// comes back after one attempt; one GitHub never saw (rate limited, the
// dial refused) is sent again.
func TestUnsafePostNotReplayed(t *testing.T) {
	ok := step{status: 201, body: `{"id":1}`}
	for _, tc := range []struct {
		name     string
		steps    []step
		status   int // 0: an error
		attempts int
	}{
		{"connection dropped", []step{{hangup: true}, ok}, 0, 1},
		{"502", []step{{status: 502}, ok}, 502, 1},
		{"500", []step{{status: 500}, ok}, 500, 1},
		{"503", []step{{status: 503}, ok}, 503, 1},
		{"504", []step{{status: 504}, ok}, 504, 1},
		{"secondary rate limit", []step{{status: 403, header: hdr("Retry-After", "2"), body: secondaryMsg}, ok}, 201, 2},
		{"429", []step{{status: 429, header: hdr("Retry-After", "1")}, ok}, 201, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := newScripted(t, clk, tc.steps...)
			c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half, ContentPace: -1})}
			resp, err := c.Post(srv.srv.URL+"/api/v3/repos/acme/gitops/issues/5/comments", "application/json", strings.NewReader(`{"body":"hi"}`))
			switch {
			case tc.status == 0 && err == nil:
				t.Fatalf("status %d, want the network error", resp.StatusCode)
			case tc.status != 0 && err != nil:
				t.Fatalf("err %v, want %d", err, tc.status)
			case tc.status != 0:
				_ = resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
			}
			if got := len(srv.arrivals()); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
		})
	}
	t.Run("dial refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		clk := newClock()
		c := &http.Client{Transport: ghretry.New(noKeepAlive(), ghretry.Config{Clock: clk, Rand: half, MaxAttempts: 3, ContentPace: -1})}
		_, err = c.Post("http://"+addr+"/repos/acme/gitops/issues/5/comments", "application/json", strings.NewReader(`{"body":"hi"}`))
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("err = %v, want connection refused after 3 attempts", err)
		}
	})
}

// TestGitHubUnsafePostNotReplayed: GitHub performs the POST, then the
// connection drops. A comment is not posted again (one comment, the error
// returned); a tree and a reaction are, and end up once.
func TestGitHubUnsafePostNotReplayed(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	clk := newClock()
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, Rand: half, ContentPace: -1}))
	n, err := e.s.CreateIssue(owner+"/"+repoName, "release", "alice")
	if err != nil {
		t.Fatal(err)
	}
	dropOnce := func(route string) {
		done := false
		e.s.SetFault(func(c githubtest.Call) *githubtest.Fault {
			if c.Route != route || done {
				return nil
			}
			done = true
			return &githubtest.Fault{After: true, Drop: true}
		})
	}

	dropOnce("POST /repos/{owner}/{repo}/issues/{issue_number}/comments")
	_, _, err = gh.Issues.CreateComment(e.ctx, owner, repoName, n, &github.IssueComment{Body: github.String("planned")})
	if err == nil {
		t.Fatal("the dropped comment reported success")
	}
	if !ghretry.MayHaveTakenEffect(err) {
		t.Errorf("MayHaveTakenEffect(%v) = false", err)
	}
	if cs := e.s.Comments(owner+"/"+repoName, n); len(cs) != 1 {
		t.Errorf("%d comments, want the one GitHub posted", len(cs))
	}

	dropOnce("POST /repos/{owner}/{repo}/git/trees")
	ref, _, err := gh.Git.GetRef(e.ctx, owner, repoName, "heads/main")
	if err != nil {
		t.Fatal(err)
	}
	commit, _, err := gh.Git.GetCommit(e.ctx, owner, repoName, ref.GetObject().GetSHA())
	if err != nil {
		t.Fatal(err)
	}
	tree, _, err := gh.Git.CreateTree(e.ctx, owner, repoName, commit.GetTree().GetSHA(), []*github.TreeEntry{{
		Path: github.String("a.txt"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("a\n")}})
	if err != nil || tree.GetSHA() == "" {
		t.Errorf("tree after a dropped answer: %v, %v; want it replayed", tree.GetSHA(), err)
	}

	cid, err := e.s.Comment(owner+"/"+repoName, n, "alice", "/promote prod")
	if err != nil {
		t.Fatal(err)
	}
	e.s.ResetCalls()
	dropOnce("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
	if _, _, err := gh.Reactions.CreateIssueCommentReaction(e.ctx, owner, repoName, cid, "eyes"); err != nil {
		t.Fatalf("reaction after a dropped answer: %v", err)
	}
	if rs := e.s.Reactions(cid); len(rs) != 1 {
		t.Errorf("reactions %+v, want one", rs)
	}
	if got := callStatuses(e.s); fmt.Sprint(got) != "[0 200]" {
		t.Errorf("reaction POSTs answered %v, want [0 200]: GitHub answers a repeat with the existing reaction", got)
	}
	if len(clk.Sleeps()) != 2 {
		t.Errorf("sleeps %v, want one backoff per replay", clk.Sleeps())
	}
}

func TestMayHaveTakenEffect(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code, Request: &http.Request{}} }
	ghErr := func(code int) error { return &github.ErrorResponse{Response: resp(code)} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"422", fmt.Errorf("reply: %w", ghErr(422)), false},
		{"404", ghErr(404), false},
		{"502", ghErr(502), true},
		{"500", ghErr(500), true},
		{"rate limited", &github.RateLimitError{Response: resp(403)}, false},
		{"secondary", &github.AbuseRateLimitError{Response: resp(403)}, false},
		{"deferred", &ghretry.WaitError{Until: time.Now(), Reason: "primary_rate_limit"}, false},
		{"connection dropped", &url.Error{Op: "Post", URL: "x", Err: io.EOF}, true},
		{"dial refused", &url.Error{Op: "Post", URL: "x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, false},
		{"no such host", &url.Error{Op: "Post", URL: "x", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "ghes"}}}, false},
		{"reset while reading", &url.Error{Op: "Post", URL: "x", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, true},
	} {
		if got := ghretry.MayHaveTakenEffect(tc.err); got != tc.want {
			t.Errorf("%s: MayHaveTakenEffect = %v, want %v", tc.name, got, tc.want)
		}
	}
}
