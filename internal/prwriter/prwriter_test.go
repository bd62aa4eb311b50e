package prwriter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/rules"
)

// These tests are the contract: the writer against the GitHub test
// server, through the go-github adapter, with the calls counted.

const repo = "acme/gitops"

// memState is a StateStore in memory; getErr and putErr make it fail.
type memState struct {
	mu             sync.Mutex
	m              map[string]prwriter.PRRecord
	getErr, putErr error
}

func (s *memState) GetPR(_ context.Context, key string) (prwriter.PRRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return prwriter.PRRecord{}, false, s.getErr
	}
	r, ok := s.m[key]
	return r, ok, nil
}

func (s *memState) PutPR(_ context.Context, key string, r prwriter.PRRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.m[key] = r
	return nil
}

type fixture struct {
	srv   *githubtest.Server
	gh    prwriter.GitHub
	raw   *github.Client
	state *memState
	w     *prwriter.Writer
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
	st := &memState{m: map[string]prwriter.PRRecord{}}
	return &fixture{srv: srv, gh: prwriter.REST(gh), raw: gh, state: st, w: &prwriter.Writer{State: st}}
}

// plan builds a plan on the current main head, as the planner does.
func (f *fixture) plan(t *testing.T, tag string) *planner.Plan {
	t.Helper()
	head := f.srv.Branches(repo)["main"]
	c, _, err := f.raw.Git.GetCommit(context.Background(), "acme", "gitops", head)
	if err != nil {
		t.Fatal(err)
	}
	_, branchExists := f.srv.Branches(repo)["promobot/prod/web"]
	f.srv.ResetCalls()
	return &planner.Plan{
		Target:     intent.Target{Repo: repo, Service: "web", Env: "prod"},
		BaseBranch: "main", BaseSHA: head, BaseTree: c.GetTree().GetSHA(),
		Branch: "promobot/prod/web", BranchExists: branchExists,
		Edits: []planner.FileEdit{
			{Path: "apps/web/overlays/prod/kustomization.yaml", New: []byte("images:\n  - name: web\n    newTag: " + tag + "\n")},
		},
		CommitMessage: "Promote web " + tag + " to prod", Title: "Promote web " + tag + " to prod", Body: "body " + tag,
		Reviewers: rules.Principals{Users: []string{"alice"}, Teams: []string{"acme/leads"}},
		Labels:    []string{"promotion", "env:prod"},
	}
}

// commit makes p's commit through the adapter, as a crashed writer would
// have left it.
func (f *fixture) commit(t *testing.T, p *planner.Plan) string {
	t.Helper()
	ctx := context.Background()
	var entries []prwriter.TreeEntry
	for _, e := range p.Edits {
		entries = append(entries, prwriter.TreeEntry{Path: e.Path, Content: string(e.New)})
	}
	tree, err := f.gh.CreateTree(ctx, repo, p.BaseTree, entries)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := f.gh.CreateCommit(ctx, repo, p.CommitMessage, tree, p.BaseSHA)
	if err != nil {
		t.Fatal(err)
	}
	return sha
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

	res, err := f.w.Apply(ctx, f.gh, f.plan(t, "v2"))
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

	res2, err := f.w.Apply(ctx, f.gh, f.plan(t, "v3"))
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

// TestResumeAfterCrash re-applies a plan after each point at which a
// worker can die; the result is always one branch, one PR.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		crash func(f *fixture, p *planner.Plan)
	}{
		{"branch created, no PR", func(f *fixture, p *planner.Plan) {
			if err := f.gh.CreateRef(ctx, repo, p.Branch, f.commit(t, p)); err != nil {
				t.Fatal(err)
			}
		}},
		{"PR opened, state not saved", func(f *fixture, p *planner.Plan) {
			if err := f.gh.CreateRef(ctx, repo, p.Branch, f.commit(t, p)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.raw.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{
				Title: github.String(p.Title), Head: github.String(p.Branch), Base: github.String("main"),
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"commit made, branch not moved", func(f *fixture, p *planner.Plan) {
			f.commit(t, p)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.plan(t, "v2")
			tc.crash(f, p)
			// The mirror is stale: the retry still believes no branch exists.
			p.BranchExists = false
			res, err := f.w.Apply(ctx, f.gh, p)
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
	first, err := f.w.Apply(ctx, f.gh, f.plan(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Merge(repo, first.Number, "alice"); err != nil {
		t.Fatal(err)
	}
	p := f.plan(t, "v3")
	p.BranchStale = true // the planner saw the branch holds only what main runs
	second, err := f.w.Apply(ctx, f.gh, p)
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
	first, err := f.w.Apply(ctx, f.gh, f.plan(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	head := f.srv.Branches(repo)["promobot/prod/web"]
	p := f.plan(t, "v2")
	p.BranchCurrent = true
	res, err := f.w.Apply(ctx, f.gh, p)
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
	p := f.plan(t, "v2")
	p.Direct = true
	res, err := f.w.Apply(ctx, f.gh, p)
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
	stale := f.plan(t, "v3")
	other := "x\n"
	if _, err := f.srv.Commit(repo, "main", map[string]*string{"README.md": &other}, "someone else"); err != nil {
		t.Fatal(err)
	}
	stale.Direct = true
	if _, err := f.w.Apply(ctx, f.gh, stale); !errors.Is(err, prwriter.ErrBaseMoved) {
		t.Fatalf("stale direct commit: err = %v, want ErrBaseMoved", err)
	} else if k, at := fate.Of(err); k != fate.RetryAt || !at.IsZero() {
		t.Errorf("base moved: fate %v at %v, want retry at once", k, at)
	}
	if b, err := f.srv.File(repo, "main", "README.md"); err != nil || string(b) != other {
		t.Errorf("the other push was lost: %q %v", b, err)
	}
}

func TestDirectCommitProtected(t *testing.T) {
	f := newFixture(t)
	p := f.plan(t, "v2")
	p.Direct = true
	head := f.srv.Branches(repo)["main"]
	// GitHub refuses pushes to a protected branch with 422, as it refuses a
	// push that is not a fast-forward; only a re-read tells them apart.
	f.srv.SetFault(func(c githubtest.Call) *githubtest.Fault {
		if c.Route == "PATCH /repos/{owner}/{repo}/git/refs/{ref}" {
			return &githubtest.Fault{Status: 422, Body: `{"message":"Protected branch update failed"}`}
		}
		return nil
	})
	_, err := f.w.Apply(context.Background(), f.gh, p)
	if !fate.IsTerminal(err) || errors.Is(err, prwriter.ErrBaseMoved) {
		t.Fatalf("protected base: err = %v (%v), want terminal", err, kindOf(err))
	}
	if got := f.srv.Branches(repo)["main"]; got != head {
		t.Errorf("main moved to %s", got)
	}
}

func TestBinaryFile(t *testing.T) {
	f := newFixture(t)
	p := f.plan(t, "v2")
	bin := []byte{0xff, 0xfe, 0x00, 'v', '2', 0x80}
	p.Edits = append(p.Edits, planner.FileEdit{Path: "apps/web/logo.bin", New: bin})
	if _, err := f.w.Apply(context.Background(), f.gh, p); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.CallCounts()["POST /repos/{owner}/{repo}/git/blobs"]; n != 1 {
		t.Errorf("%d blob calls for one binary file, want 1", n)
	}
	got, err := f.srv.File(repo, "promobot/prod/web", "apps/web/logo.bin")
	if err != nil || string(got) != string(bin) {
		t.Errorf("binary file = %q %v, want %q", got, err, bin)
	}
}

// TestFate reads back what GitHub's answers, as go-github reports them,
// mean for the intent.
func TestFate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *githubtest.Fault
		want  fate.Kind
	}{
		{"404", &githubtest.Fault{Status: 404, Body: `{"message":"Not Found"}`}, fate.Terminal},
		{"502", &githubtest.Fault{Status: 502, Body: `{"message":"Bad Gateway"}`}, fate.Retryable},
		{"rate limited", githubtest.PrimaryRateLimitFault(time.Now().Add(time.Hour)), fate.RetryAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.SetFault(func(c githubtest.Call) *githubtest.Fault {
				if c.Route == "POST /repos/{owner}/{repo}/git/trees" {
					return tc.fault
				}
				return nil
			})
			_, err := f.w.Apply(context.Background(), f.gh, f.plan(t, "v2"))
			if k := kindOf(err); err == nil || k != tc.want {
				t.Fatalf("err = %v (%v), want %v", err, k, tc.want)
			}
		})
	}
}

func kindOf(err error) fate.Kind {
	k, _ := fate.Of(err)
	return k
}
