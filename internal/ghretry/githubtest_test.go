package ghretry_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

const (
	token    = "ghretry-test-token"
	owner    = "acme"
	repoName = "gitops"
	appID    = 4242
	instID   = 77
)

type ghEnv struct {
	s   *githubtest.Server
	ctx context.Context
}

func newGH(t *testing.T, cfg githubtest.Config) *ghEnv {
	t.Helper()
	cfg.Dir = t.TempDir()
	cfg.StaticToken = token
	s, err := githubtest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.CreateRepo(owner+"/"+repoName, "main", map[string]string{
		"apps/payment/overlays/dev/kustomization.yaml": "images:\n- name: registry.example.com/payment\n  newTag: v1.0.0\n",
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &ghEnv{s: s, ctx: ctx}
}

// client is go-github over rt, authenticated with the static token.
func (e *ghEnv) client(t *testing.T, rt http.RoundTripper) *github.Client {
	t.Helper()
	c, err := github.NewClient(&http.Client{Transport: rt}).WithAuthToken(token).WithEnterpriseURLs(e.s.APIURL(), e.s.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeFlow is the sequence of calls a promotion makes: reads, git data
// writes, a branch, a PR, a label and a comment.
func writeFlow(ctx context.Context, gh *github.Client) error {
	ref, _, err := gh.Git.GetRef(ctx, owner, repoName, "heads/main")
	if err != nil {
		return err
	}
	base := ref.GetObject().GetSHA()
	commit, _, err := gh.Git.GetCommit(ctx, owner, repoName, base)
	if err != nil {
		return err
	}
	blob, _, err := gh.Git.CreateBlob(ctx, owner, repoName, &github.Blob{
		Content: github.String("images:\n- name: registry.example.com/payment\n  newTag: v1.1.0\n"), Encoding: github.String("utf-8")})
	if err != nil {
		return err
	}
	tree, _, err := gh.Git.CreateTree(ctx, owner, repoName, commit.GetTree().GetSHA(), []*github.TreeEntry{{
		Path: github.String("apps/payment/overlays/dev/kustomization.yaml"), Mode: github.String("100644"), Type: github.String("blob"), SHA: blob.SHA}})
	if err != nil {
		return err
	}
	nc, _, err := gh.Git.CreateCommit(ctx, owner, repoName, &github.Commit{
		Message: github.String("promote payment v1.1.0 to dev"), Tree: tree, Parents: []*github.Commit{{SHA: github.String(base)}}}, nil)
	if err != nil {
		return err
	}
	if _, _, err := gh.Git.CreateRef(ctx, owner, repoName, &github.Reference{
		Ref: github.String("refs/heads/promobot/payment-dev"), Object: &github.GitObject{SHA: nc.SHA}}); err != nil {
		return err
	}
	pr, _, err := gh.PullRequests.Create(ctx, owner, repoName, &github.NewPullRequest{
		Title: github.String("Promote payment v1.1.0 to dev"), Head: github.String("promobot/payment-dev"), Base: github.String("main"),
		Body: github.String("Promotes **payment** to `v1.1.0`.")})
	if err != nil {
		return err
	}
	if _, _, err := gh.PullRequests.Get(ctx, owner, repoName, pr.GetNumber()); err != nil {
		return err
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, owner, repoName, pr.GetNumber(), []string{"promotion"}); err != nil {
		return err
	}
	_, _, err = gh.Issues.CreateComment(ctx, owner, repoName, pr.GetNumber(), &github.IssueComment{Body: github.String("planned")})
	return err
}

const flowCalls = 10

// TestFlakyGitHub: 30% of the replayable requests answer 502, chosen by a
// counter; every call completes, each fault costs exactly one more attempt
// after one backoff, and every retried POST carries the identical body.
// (The comment is not replayable: TestGitHubUnsafePostNotReplayed.)
func TestFlakyGitHub(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	var mu sync.Mutex
	n := 0
	faulty := func(i int) bool { return i%10 == 1 || i%10 == 4 || i%10 == 7 }
	e.s.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if !ghretry.Replayable(c.Method, c.Path) {
			return nil
		}
		n++
		if faulty(n) {
			return &githubtest.Fault{Status: http.StatusBadGateway}
		}
		return nil
	})
	clk := newClock()
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, Rand: half, ContentPace: -1}))
	if err := writeFlow(e.ctx, gh); err != nil {
		t.Fatalf("flow failed despite retries: %v", err)
	}

	// Expected: every faulty request number is followed by its retry; the
	// comment, last, is not counted.
	want, faults := 0, 0
	for range flowCalls - 1 {
		for want++; faulty(want); want++ {
			faults++
		}
	}
	want++
	calls := e.s.Calls()
	if len(calls) != want || faults < flowCalls*3/10 {
		t.Fatalf("server saw %d requests (%d faults), want %d", len(calls), faults, want)
	}
	for i, c := range calls {
		if c.Status != http.StatusBadGateway {
			continue
		}
		// The retry is the call to the same route next to it. The server
		// records a call once answered, so the order of neighbours can
		// swap: a large answer to the call before can be recorded after it,
		// and the retry's answer before the fault's own record.
		found := false
		for _, k := range []int{i + 1, i + 2, i - 1} {
			if k < 0 || k >= len(calls) {
				continue
			}
			r := calls[k]
			if r.Method == c.Method && r.Path == c.Path && bytes.Equal(r.Body, c.Body) && r.Status != http.StatusBadGateway {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("call %d %s %s (%d bytes) faulted and no neighbouring call is its retry", i, c.Method, c.Path, len(c.Body))
		}
	}
	if errs := githubtest.CheckCalls(calls); len(errs) > 0 {
		t.Errorf("calls do not match GitHub's API: %v", errs)
	}
	if got := clk.Sleeps(); len(got) != faults || slices.ContainsFunc(got, func(d time.Duration) bool { return d != 250*time.Millisecond }) {
		t.Errorf("sleeps %v, want %d × 250ms", got, faults)
	}
	if prs := e.s.PullRequests(owner + "/" + repoName); len(prs) != 1 {
		t.Errorf("%d pull requests, want exactly 1", len(prs))
	}
}

// TestGitHubPacing: through go-github, content-creating calls are spaced by
// ContentPace and reads are not delayed.
func TestGitHubPacing(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	clk := newClock()
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk}))
	if err := writeFlow(e.ctx, gh); err != nil {
		t.Fatal(err)
	}
	// 7 content-creating calls (blob, tree, commit, ref, PR, labels, comment): 6 paced waits.
	want := []time.Duration{time.Second, time.Second, time.Second, time.Second, time.Second, time.Second}
	if got := clk.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps %v, want %v", got, want)
	}
	if got := len(e.s.Calls()); got != flowCalls {
		t.Errorf("%d calls, want %d", got, flowCalls)
	}
}

// TestGitHubRateLimits: the transport waits out primary and secondary limits
// below go-github, which then sees only the final 200 and keeps sending.
// The controls show what go-github does on its own: it returns the limit
// error and refuses the next call locally without asking the server.
func TestGitHubRateLimits(t *testing.T) {
	// go-github compares its remembered reset with the real clock, so the
	// fake clock starts now.
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name  string
		fault *githubtest.Fault
		wait  time.Duration
	}{
		{"secondary", githubtest.SecondaryRateLimitFault(7 * time.Second), 7 * time.Second},
		{"primary", githubtest.PrimaryRateLimitFault(now.Add(30 * time.Second)), 31 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newGH(t, githubtest.Config{})
			once := func() {
				var mu sync.Mutex
				done := false
				e.s.SetFault(func(c githubtest.Call) *githubtest.Fault {
					mu.Lock()
					defer mu.Unlock()
					if done {
						return nil
					}
					done = true
					return tc.fault
				})
			}

			once()
			clk := newClock()
			clk.now = now
			gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, ContentPace: -1}))
			for i := range 2 {
				if _, _, err := gh.Repositories.Get(e.ctx, owner, repoName); err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
			}
			if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{tc.wait}) {
				t.Errorf("sleeps %v, want [%v]", got, tc.wait)
			}
			statuses := callStatuses(e.s)
			if !slices.Equal(statuses, []int{403, 200, 200}) {
				t.Errorf("server saw %v, want [403 200 200]: the second call must reach GitHub", statuses)
			}

			t.Run("control without ghretry", func(t *testing.T) {
				e.s.ResetCalls()
				once()
				plain := e.client(t, http.DefaultTransport)
				_, _, err := plain.Repositories.Get(e.ctx, owner, repoName)
				var rl *github.RateLimitError
				var ab *github.AbuseRateLimitError
				if !errors.As(err, &rl) && !errors.As(err, &ab) {
					t.Fatalf("err = %v, want a go-github rate-limit error", err)
				}
				if _, _, err := plain.Repositories.Get(e.ctx, owner, repoName); err == nil {
					t.Fatal("go-github sent a call it remembered as limited")
				}
				if got := callStatuses(e.s); !slices.Equal(got, []int{403}) {
					t.Errorf("server saw %v, want [403]", got)
				}
			})
		})
	}
}

func callStatuses(s *githubtest.Server) []int {
	var out []int
	for _, c := range s.Calls() {
		out = append(out, c.Status)
	}
	return out
}

// TestGitHubWaitTooLong: a reset beyond MaxWait surfaces through go-github as
// a *WaitError with the reset time, after one attempt, and leaves go-github
// without a remembered limit.
func TestGitHubWaitTooLong(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	now := time.Now().Truncate(time.Second)
	reset := now.Add(10 * time.Minute)
	e.s.SetFault(func(githubtest.Call) *githubtest.Fault { return githubtest.PrimaryRateLimitFault(reset) })
	clk := newClock()
	clk.now = now
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, ContentPace: -1}))
	_, _, err := gh.PullRequests.Create(e.ctx, owner, repoName, &github.NewPullRequest{Title: github.String("x"), Head: github.String("a"), Base: github.String("main")})
	var we *ghretry.WaitError
	if !errors.As(err, &we) || !errors.Is(err, ghretry.ErrRateLimited) {
		t.Fatalf("err = %v, want *ghretry.WaitError", err)
	}
	if !we.Until.Equal(reset.Add(time.Second)) {
		t.Errorf("Until %v, want %v", we.Until, reset.Add(time.Second))
	}
	if len(clk.Sleeps()) != 0 || len(e.s.Calls()) != 1 {
		t.Errorf("sleeps %v, calls %d; want none and 1", clk.Sleeps(), len(e.s.Calls()))
	}
	e.s.SetFault(nil)
	if _, _, err := gh.Repositories.Get(e.ctx, owner, repoName); err != nil {
		t.Fatalf("next call after the limit lifted: %v", err)
	}
}

// TestGitHubTerminal: 404 and 422 come back at once, after one attempt.
func TestGitHubTerminal(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	clk := newClock()
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, Rand: half, ContentPace: -1}))
	tests := []struct {
		name   string
		status int
		call   func() error
	}{
		{"missing file", 404, func() error {
			_, _, _, err := gh.Repositories.GetContents(e.ctx, owner, repoName, "apps/nope/kustomization.yaml", nil)
			return err
		}},
		{"missing repository", 404, func() error { _, _, err := gh.Repositories.Get(e.ctx, owner, "nope"); return err }},
		{"ref exists", 422, func() error {
			ref, _, err := gh.Git.GetRef(e.ctx, owner, repoName, "heads/main")
			if err != nil {
				return err
			}
			e.s.ResetCalls()
			_, _, err = gh.Git.CreateRef(e.ctx, owner, repoName, &github.Reference{Ref: github.String("refs/heads/main"), Object: ref.Object})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.s.ResetCalls()
			err := tc.call()
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tc.status {
				t.Fatalf("err = %v, want %d", err, tc.status)
			}
			if n := len(e.s.Calls()); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
	if len(clk.Sleeps()) != 0 {
		t.Errorf("waited %v before a terminal answer", clk.Sleeps())
	}
}

// TestGitHubCancelDuringRateLimit: cancelling the ctx while waiting out a
// secondary limit returns the ctx error promptly.
func TestGitHubCancelDuringRateLimit(t *testing.T) {
	e := newGH(t, githubtest.Config{})
	e.s.SetFault(func(githubtest.Call) *githubtest.Fault { return githubtest.SecondaryRateLimitFault(7 * time.Second) })
	clk := newClock()
	clk.block = make(chan time.Duration, 1)
	gh := e.client(t, ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, ContentPace: -1}))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := gh.Repositories.Get(ctx, owner, repoName)
		done <- err
	}()
	select {
	case d := <-clk.block:
		if d != 7*time.Second {
			t.Errorf("waiting %v, want 7s", d)
		}
	case <-e.ctx.Done():
		t.Fatal("transport never waited")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-e.ctx.Done():
		t.Fatal("cancel did not end the wait")
	}
	if n := len(e.s.Calls()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestInstallationTokenRetried: wired like ghapp will wire it (ghinstallation
// above ghretry), a failed token exchange is retried too.
func TestInstallationTokenRetried(t *testing.T) {
	priv, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	e := newGH(t, githubtest.Config{AppID: appID, AppPublicKey: pub, InstallationID: instID})
	var mu sync.Mutex
	tokenCalls := 0
	e.s.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if c.Route == "POST /app/installations/{installation_id}/access_tokens" {
			tokenCalls++
			if tokenCalls == 1 {
				return &githubtest.Fault{Status: http.StatusServiceUnavailable}
			}
		}
		return nil
	})
	clk := newClock()
	base := ghretry.New(http.DefaultTransport, ghretry.Config{Clock: clk, Rand: half, ContentPace: -1})
	atr, err := ghinstallation.NewAppsTransport(base, appID, priv)
	if err != nil {
		t.Fatal(err)
	}
	atr.BaseURL = e.s.APIURL()
	itr := ghinstallation.NewFromAppsTransport(atr, instID)
	itr.BaseURL = e.s.APIURL()
	gh, err := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(e.s.APIURL(), e.s.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Repositories.Get(e.ctx, owner, repoName); err != nil {
		t.Fatalf("call with a flaky token exchange: %v", err)
	}
	var got []string
	for _, c := range e.s.Calls() {
		got = append(got, c.Route+" "+c.Auth)
	}
	want := []string{
		"POST /app/installations/{installation_id}/access_tokens app-jwt",
		"POST /app/installations/{installation_id}/access_tokens app-jwt",
		"GET /repos/{owner}/{repo} installation",
	}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}
