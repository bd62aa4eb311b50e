package prwriter

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/githubtest"
)

const repo = "acme/gitops"

type memState struct {
	mu sync.Mutex
	m  map[string]PRRecord
}

func (s *memState) GetPR(_ context.Context, key string) (PRRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	return r, ok, nil
}

func (s *memState) PutPR(_ context.Context, key string, r PRRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = r
	return nil
}

type fixture struct {
	srv   *githubtest.Server
	gh    *github.Client
	state *memState
	w     *Writer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), StaticToken: "ghp_test", StaticTokenUser: "promobot"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateRepo(repo, "main", map[string]string{
		"apps/web/overlays/staging/kustomization.yaml": "images:\n  - name: web\n    newTag: v1\n",
		"apps/web/overlays/prod/kustomization.yaml":    "images:\n  - name: web\n    newTag: v1\n",
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPermission(repo, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	srv.AddTeamMember("acme", "leads", "bob")
	gh, err := github.NewClient(nil).WithAuthToken("ghp_test").WithEnterpriseURLs(srv.APIURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	st := &memState{m: map[string]PRRecord{}}
	return &fixture{srv: srv, gh: gh, state: st, w: &Writer{State: st}}
}

// change builds a change on the current main head, as the worker does.
func (f *fixture) change(t *testing.T, tag string) Change {
	t.Helper()
	head := f.srv.Branches(repo)["main"]
	c, _, err := f.gh.Git.GetCommit(context.Background(), "acme", "gitops", head)
	if err != nil {
		t.Fatal(err)
	}
	_, branchExists := f.srv.Branches(repo)["promobot/prod/web"]
	f.srv.ResetCalls()
	return Change{
		Repo: repo, Key: "acme/gitops/web/prod", BaseBranch: "main", BaseSHA: head, BaseTree: c.GetTree().GetSHA(),
		Branch: "promobot/prod/web", BranchExists: branchExists,
		Files: []File{
			{Path: "apps/web/overlays/prod/kustomization.yaml", Content: []byte("images:\n  - name: web\n    newTag: " + tag + "\n")},
		},
		CommitMessage: "Promote web " + tag + " to prod", Title: "Promote web " + tag + " to prod", Body: "body " + tag,
		Users: []string{"alice"}, Teams: []string{"acme/leads"}, Labels: []string{"promotion", "env:prod"},
	}
}

func (f *fixture) calls() int {
	n := 0
	for _, c := range f.srv.Calls() {
		if c.Route != "" {
			n++
		}
	}
	return n
}

func (f *fixture) openPRs() []githubtest.PR {
	var out []githubtest.PR
	for _, pr := range f.srv.PullRequests(repo) {
		if pr.State == "open" {
			out = append(out, pr)
		}
	}
	return out
}

func TestNewPRThenUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	res, err := f.w.Apply(ctx, f.gh, f.change(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Number == 0 {
		t.Fatalf("want a new PR, got %+v", res)
	}
	t.Logf("new PR: %d REST calls %v", f.calls(), f.srv.CallCounts())
	if n := f.calls(); n > 6 {
		t.Errorf("new PR took %d REST calls, want ≤ 6: %v", n, f.srv.CallCounts())
	}
	prs := f.openPRs()
	if len(prs) != 1 || prs[0].Head != "promobot/prod/web" || prs[0].Title != "Promote web v2 to prod" {
		t.Fatalf("open PRs = %+v", prs)
	}
	if len(prs[0].Reviewers) != 1 || prs[0].Reviewers[0] != "alice" || len(prs[0].TeamReviewers) != 1 || prs[0].TeamReviewers[0] != "leads" {
		t.Errorf("reviewers = %v teams %v", prs[0].Reviewers, prs[0].TeamReviewers)
	}
	if len(prs[0].Labels) != 2 {
		t.Errorf("labels = %v", prs[0].Labels)
	}
	got, err := f.srv.File(repo, "promobot/prod/web", "apps/web/overlays/prod/kustomization.yaml")
	if err != nil || string(got) != "images:\n  - name: web\n    newTag: v2\n" {
		t.Errorf("branch file = %q %v", got, err)
	}
	// The untouched file is still there: the tree was built on the base tree.
	if _, err := f.srv.File(repo, "promobot/prod/web", "apps/web/overlays/staging/kustomization.yaml"); err != nil {
		t.Errorf("base tree not kept: %v", err)
	}

	res2, err := f.w.Apply(ctx, f.gh, f.change(t, "v3"))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Created || res2.Number != res.Number {
		t.Fatalf("update opened a new PR: %+v (first %+v)", res2, res)
	}
	t.Logf("update: %d REST calls %v", f.calls(), f.srv.CallCounts())
	if n := f.calls(); n > 4 {
		t.Errorf("update took %d REST calls, want ≤ 4: %v", n, f.srv.CallCounts())
	}
	prs = f.openPRs()
	if len(prs) != 1 || prs[0].Title != "Promote web v3 to prod" || prs[0].Body != "body v3" {
		t.Fatalf("after update: %+v", prs)
	}
	for _, err := range githubtest.CheckCalls(f.srv.Calls()) {
		t.Errorf("undocumented call: %v", err)
	}
}

// TestResumeAfterCrash re-applies a change after each point at which a
// worker can die; the result is always one branch, one PR.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		crash func(f *fixture, c Change)
	}{
		{"branch created, no PR", func(f *fixture, c Change) {
			sha, err := f.w.commit(ctx, f.gh, "acme", "gitops", c)
			if err != nil {
				t.Fatal(err)
			}
			if err := setBranch(ctx, f.gh, "acme", "gitops", c.Branch, sha, false); err != nil {
				t.Fatal(err)
			}
		}},
		{"PR opened, state not saved", func(f *fixture, c Change) {
			sha, err := f.w.commit(ctx, f.gh, "acme", "gitops", c)
			if err != nil {
				t.Fatal(err)
			}
			if err := setBranch(ctx, f.gh, "acme", "gitops", c.Branch, sha, false); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.gh.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{
				Title: github.String(c.Title), Head: github.String(c.Branch), Base: github.String("main"),
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"commit made, branch not moved", func(f *fixture, c Change) {
			if _, err := f.w.commit(ctx, f.gh, "acme", "gitops", c); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.change(t, "v2")
			tc.crash(f, c)
			// The mirror is stale: the retry still believes no branch exists.
			c.BranchExists = false
			res, err := f.w.Apply(ctx, f.gh, c)
			if err != nil {
				t.Fatal(err)
			}
			prs := f.openPRs()
			if len(prs) != 1 || prs[0].Number != res.Number {
				t.Fatalf("after resume: %d open PRs %+v, result %+v", len(prs), prs, res)
			}
			if len(prs[0].Reviewers) != 1 || len(prs[0].Labels) != 2 {
				t.Errorf("resumed PR lacks reviewers or labels: %+v", prs[0])
			}
			got, err := f.srv.File(repo, "promobot/prod/web", "apps/web/overlays/prod/kustomization.yaml")
			if err != nil || string(got) != "images:\n  - name: web\n    newTag: v2\n" {
				t.Errorf("branch file = %q %v", got, err)
			}
		})
	}
}

func TestMergedPRIsNotReused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.w.Apply(ctx, f.gh, f.change(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Merge(repo, first.Number, "alice"); err != nil {
		t.Fatal(err)
	}
	c := f.change(t, "v3")
	c.BranchStale = true // the planner saw the branch holds only what main runs
	second, err := f.w.Apply(ctx, f.gh, c)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Created || second.Number == first.Number {
		t.Fatalf("a promotion after a merge must open a new PR: first %+v second %+v", first, second)
	}
	merged, _ := findNumber(f.srv.PullRequests(repo), first.Number)
	if merged.Title != "Promote web v2 to prod" {
		t.Errorf("the merged PR was edited: %q", merged.Title)
	}
}

func findNumber(prs []githubtest.PR, n int) (githubtest.PR, bool) {
	for _, pr := range prs {
		if pr.Number == n {
			return pr, true
		}
	}
	return githubtest.PR{}, false
}

func TestBranchCurrentMakesNoCommit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.w.Apply(ctx, f.gh, f.change(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	head := f.srv.Branches(repo)["promobot/prod/web"]
	c := f.change(t, "v2")
	c.BranchCurrent = true
	res, err := f.w.Apply(ctx, f.gh, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Number != first.Number || res.CommitSHA != "" {
		t.Errorf("re-applied plan: %+v", res)
	}
	if got := f.srv.Branches(repo)["promobot/prod/web"]; got != head {
		t.Errorf("branch moved from %s to %s although it was current", head, got)
	}
	if n := f.srv.CallCounts()["POST /repos/{owner}/{repo}/git/commits"]; n != 0 {
		t.Errorf("%d commits created for a current branch", n)
	}
}

func TestDirectCommit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.change(t, "v2")
	c.Direct = true
	res, err := f.w.Apply(ctx, f.gh, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Branches(repo)["main"]; got != res.CommitSHA {
		t.Fatalf("main = %s, want the new commit %s", got, res.CommitSHA)
	}
	if n := f.calls(); n != 3 {
		t.Errorf("direct commit took %d calls, want 3 (tree, commit, ref): %v", n, f.srv.CallCounts())
	}
	// Someone else pushed to main meanwhile: promobot must not overwrite it.
	stale := f.change(t, "v3")
	other := "x\n"
	if _, err := f.srv.Commit(repo, "main", map[string]*string{"README.md": &other}, "someone else"); err != nil {
		t.Fatal(err)
	}
	stale.Direct = true
	if _, err := f.w.Apply(ctx, f.gh, stale); !errors.Is(err, ErrBaseMoved) {
		t.Fatalf("stale direct commit: err = %v, want ErrBaseMoved", err)
	}
	if b, err := f.srv.File(repo, "main", "README.md"); err != nil || string(b) != other {
		t.Errorf("the other push was lost: %q %v", b, err)
	}
}
