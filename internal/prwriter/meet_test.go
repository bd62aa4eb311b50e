package prwriter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/rules"
)

// Contract tests for what real GitHub refuses: reviewers it will not ask,
// force pushes a ruleset or a protection forbids, over-long bodies, file
// modes, and lists longer than a page.

// notes returns the bodies of the reviewer notes on PR number.
func (f *fixture) notes(number int) []string {
	var out []string
	for _, c := range f.srv.Comments(repo, number) {
		if strings.HasPrefix(c.Body, prwriter.NoteMarker) {
			out = append(out, c.Body)
		}
	}
	return out
}

// TestReviewersGitHubRefuses: reviewers GitHub will not ask do not wedge the
// environment. The PR is labelled and remembered, the others are asked,
// one note says who is missing and why, later promotions update the same
// PR and the same note.
func TestReviewersGitHubRefuses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The static token acts as "promobot": it is the author of every PR.
	if err := f.srv.SetTeamPermission(repo, "acme/outsiders", "none"); err != nil {
		t.Fatal(err)
	}
	reviewers := rules.Principals{
		Users: []string{"alice", "mallory", "promobot"},
		Teams: []string{"acme/leads", "acme/outsiders", "other/sre"},
	}
	plan := func(tag string) *planner.Plan {
		p := f.plan(t, tag)
		p.Reviewers = reviewers
		return p
	}

	res, err := f.w.Apply(ctx, f.gh, plan("v2"))
	if err != nil {
		t.Fatalf("a reviewer GitHub refuses failed the promotion: %v", err)
	}
	if !res.Created || !slices.Equal(res.Unrequested, []string{"mallory", "promobot", "acme/outsiders", "other/sre"}) {
		t.Fatalf("result %+v", res)
	}
	pr, _ := findNumber(f.srv.PullRequests(repo), res.Number)
	if !slices.Equal(pr.Reviewers, []string{"alice"}) || !slices.Equal(pr.TeamReviewers, []string{"leads"}) || len(pr.Labels) != 2 {
		t.Errorf("reviewers %v teams %v labels %v: want alice, leads and both labels", pr.Reviewers, pr.TeamReviewers, pr.Labels)
	}
	if rec := f.state.m["acme/gitops/web/prod"]; rec.Number != res.Number || len(rec.Unrequested) != 4 {
		t.Errorf("state = %+v, want PR #%d remembered with 4 unrequested", rec, res.Number)
	}
	notes := f.notes(res.Number)
	if len(notes) != 1 {
		t.Fatalf("%d reviewer notes, want 1", len(notes))
	}
	for _, want := range []string{
		"| `@mallory` | is not a collaborator of acme/gitops |",
		"| `@promobot` | is the author of this pull request",
		"| `@acme/outsiders` | is not a team of acme with access to acme/gitops |",
		"| `@other/sre` | is a team of other: GitHub asks only teams of acme",
		"Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the acme/gitops repository.",
		"Review cannot be requested from pull request author.",
	} {
		if !strings.Contains(notes[0], want) {
			t.Errorf("note lacks %q:\n%s", want, notes[0])
		}
	}
	if strings.Contains(notes[0], "alice") || strings.Contains(notes[0], "leads") {
		t.Errorf("note names a reviewer who was requested:\n%s", notes[0])
	}
	for _, err := range githubtest.CheckCalls(f.srv.Calls()) {
		t.Errorf("undocumented call: %v", err)
	}

	// A later promotion updates the same PR; nothing changed, so the note
	// stays as it is.
	res2, err := f.w.Apply(ctx, f.gh, plan("v3"))
	if err != nil || res2.Created || res2.Number != res.Number {
		t.Fatalf("update: %+v %v", res2, err)
	}
	if n := f.srv.CallCounts()["PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"]; n != 0 {
		t.Errorf("an unchanged note was edited %d times", n)
	}
	// Access fixed for mallory: the next promotion asks her, and the note
	// is edited, not repeated.
	if err := f.srv.SetPermission(repo, "mallory", "write"); err != nil {
		t.Fatal(err)
	}
	res3, err := f.w.Apply(ctx, f.gh, plan("v4"))
	if err != nil || res3.Number != res.Number || !slices.Equal(res3.Unrequested, []string{"promobot", "acme/outsiders", "other/sre"}) {
		t.Fatalf("after granting mallory: %+v %v", res3, err)
	}
	pr, _ = findNumber(f.srv.PullRequests(repo), res.Number)
	if !slices.Contains(pr.Reviewers, "mallory") || pr.Title != "Promote web v4 to prod" {
		t.Errorf("PR after the fix: %+v", pr)
	}
	notes = f.notes(res.Number)
	if len(notes) != 1 || strings.Contains(notes[0], "mallory") {
		t.Errorf("notes after the fix = %q, want one that no longer names mallory", notes)
	}
	// Everyone fixed (the rules drop the impossible ones): the note says so.
	reviewers = rules.Principals{Users: []string{"alice", "mallory"}, Teams: []string{"acme/leads"}}
	if _, err := f.w.Apply(ctx, f.gh, plan("v5")); err != nil {
		t.Fatal(err)
	}
	notes = f.notes(res.Number)
	if len(notes) != 1 || !strings.Contains(notes[0], "Every reviewer the rules name for **prod** is now requested") {
		t.Errorf("notes at the end = %q", notes)
	}
	if rec := f.state.m["acme/gitops/web/prod"]; len(rec.Unrequested) != 0 {
		t.Errorf("state still remembers %v", rec.Unrequested)
	}
	// Nothing left to ask: updates are back to the minimum.
	if _, err := f.w.Apply(ctx, f.gh, plan("v6")); err != nil {
		t.Fatal(err)
	}
	if n := f.calls(); n > 4 {
		t.Errorf("update took %d REST calls, want ≤ 4: %v", n, f.srv.CallCounts())
	}
	if open := f.openPRs(); len(open) != 1 {
		t.Errorf("%d open PRs, want 1", len(open))
	}
}

// TestForcePushForbidden: with force pushes forbidden on the promotion
// branch, an update still moves it, by a commit on top, and the PR shows
// exactly the plan's edit.
func TestForcePushForbidden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forbid func(*githubtest.Server) error
	}{
		{"ruleset blocking force pushes and deletions", func(s *githubtest.Server) error {
			return s.AddRuleset(repo, githubtest.Ruleset{Name: "org", Include: []string{"~ALL"}, NonFastForward: true, Deletion: true})
		}},
		{"classic branch protection", func(s *githubtest.Server) error {
			return s.ProtectBranch(repo, "promobot/**", githubtest.BranchProtection{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			if err := tc.forbid(f.srv); err != nil {
				t.Fatal(err)
			}
			first, err := f.w.Apply(ctx, f.gh, f.plan(t, "v2"))
			if err != nil {
				t.Fatal(err)
			}
			if n := f.calls(); n > 6 {
				t.Errorf("new PR took %d calls: %v", n, f.srv.CallCounts())
			}
			// Someone changes main meanwhile; the next promotion is planned on it.
			other := "x\n"
			if _, err := f.srv.Commit(repo, "main", map[string]*string{"README.md": &other}, "someone else"); err != nil {
				t.Fatal(err)
			}
			old := f.srv.Branches(repo)["promobot/prod/web"]
			p := f.plan(t, "v3")
			res, err := f.w.Apply(ctx, f.gh, p)
			if err != nil {
				t.Fatalf("a forbidden force push failed the promotion: %v", err)
			}
			if res.Created || res.Number != first.Number || len(f.openPRs()) != 1 {
				t.Fatalf("result %+v (first %+v), %d open PRs", res, first, len(f.openPRs()))
			}
			head := f.srv.Branches(repo)["promobot/prod/web"]
			if head != res.CommitSHA {
				t.Errorf("branch at %s, result says %s", head, res.CommitSHA)
			}
			c, _, err := f.raw.Git.GetCommit(ctx, "acme", "gitops", head)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Parents) != 2 || c.Parents[0].GetSHA() != old || c.Parents[1].GetSHA() != p.BaseSHA {
				t.Errorf("commit on top has parents %v, want the old head %s and the base %s", c.Parents, old, p.BaseSHA)
			}
			// The PR shows the plan's edit and nothing of main's own change.
			files, _, err := f.raw.PullRequests.ListFiles(ctx, "acme", "gitops", res.Number, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].GetFilename() != "apps/web/overlays/prod/kustomization.yaml" {
				var names []string
				for _, f := range files {
					names = append(names, f.GetFilename())
				}
				t.Errorf("PR files = %v, want only the prod overlay", names)
			}
			if _, err := f.srv.Merge(repo, res.Number, "alice"); err != nil {
				t.Fatal(err)
			}
			for path, want := range map[string]string{"README.md": other, "apps/web/overlays/prod/kustomization.yaml": "images:\n  - name: web\n    newTag: v3\n"} {
				if got, err := f.srv.File(repo, "main", path); err != nil || string(got) != want {
					t.Errorf("main %s = %q %v, want %q", path, got, err, want)
				}
			}
			for _, err := range githubtest.CheckCalls(f.srv.Calls()) {
				t.Errorf("undocumented call: %v", err)
			}
		})
	}
}

// TestLongBodyFits: a grouped promotion of hundreds of services (a
// generator's) renders a body GitHub accepts, and its metadata block lists
// every change.
func TestLongBodyFits(t *testing.T) {
	f := newFixture(t)
	p := f.plan(t, "v2")
	for i := range 300 {
		svc := fmt.Sprintf("service-with-a-rather-long-name-%03d", i)
		p.Changes = append(p.Changes, planner.Change{Service: svc, Env: "prod", Image: "registry.example.com/" + svc,
			Path: "apps/" + svc + "/overlays/prod/kustomization.yaml", Old: edit.Ref{Tag: "v1.0.0"}, New: edit.Ref{Tag: "v1.1.0"}})
	}
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: repo, Services: []string{"web"}, To: "prod", Group: true}
	body, err := planner.RenderBody(p, in, "staging")
	if err != nil {
		t.Fatal(err)
	}
	p.Body = body
	res, err := f.w.Apply(context.Background(), f.gh, p)
	if err != nil {
		t.Fatalf("GitHub refused the body: %v", err)
	}
	pr, _ := findNumber(f.srv.PullRequests(repo), res.Number)
	md, ok := planner.ParseMetadata(pr.Body)
	if !ok || len(md.Services) != 300 {
		t.Errorf("metadata read back from the PR: %v, %d services", ok, len(md.Services))
	}
	if !strings.Contains(pr.Body, "more services not listed") {
		t.Errorf("the body does not say services were left out")
	}
}

// TestExecutableStaysExecutable: the commit keeps an edited file's mode.
func TestExecutableStaysExecutable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Make the prod overlay executable on main, as a repository may have it.
	head := f.srv.Branches(repo)["main"]
	c, _, err := f.raw.Git.GetCommit(ctx, "acme", "gitops", head)
	if err != nil {
		t.Fatal(err)
	}
	content := "images:\n  - name: web\n    newTag: v1\n"
	tree, _, err := f.raw.Git.CreateTree(ctx, "acme", "gitops", c.GetTree().GetSHA(), []*github.TreeEntry{{
		Path: github.String("apps/web/overlays/prod/kustomization.yaml"), Mode: github.String("100755"), Type: github.String("blob"), Content: &content}})
	if err != nil {
		t.Fatal(err)
	}
	nc, _, err := f.raw.Git.CreateCommit(ctx, "acme", "gitops", &github.Commit{Message: github.String("chmod +x"), Tree: tree, Parents: []*github.Commit{{SHA: &head}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.raw.Git.UpdateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: nc.SHA}}, false); err != nil {
		t.Fatal(err)
	}
	p := f.plan(t, "v2")
	p.Edits[0].Mode = prwriter.ModeExecutable // as the planner reads it from the base
	if _, err := f.w.Apply(ctx, f.gh, p); err != nil {
		t.Fatal(err)
	}
	bc, _, err := f.raw.Git.GetCommit(ctx, "acme", "gitops", f.srv.Branches(repo)["promobot/prod/web"])
	if err != nil {
		t.Fatal(err)
	}
	branch, _, err := f.raw.Git.GetTree(ctx, "acme", "gitops", bc.GetTree().GetSHA(), true)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range branch.Entries {
		if e.GetPath() == "apps/web/overlays/prod/kustomization.yaml" {
			found = true
			if e.GetMode() != "100755" {
				t.Errorf("mode on the branch = %s, want 100755", e.GetMode())
			}
		}
	}
	if !found {
		t.Error("the edited file is not on the branch")
	}
}

// TestListCommentsFollowsPages: the reviewer note is found however many
// comments precede it.
func TestListCommentsFollowsPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.w.Apply(ctx, f.gh, f.plan(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 130 {
		if _, err := f.srv.Comment(repo, res.Number, "carol", fmt.Sprintf("comment %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := f.gh.ListComments(ctx, repo, res.Number)
	if err != nil || len(cs) != 130 || cs[129].Body != "comment 129" {
		t.Fatalf("%d comments, %v", len(cs), err)
	}
}

// TestListOpenPullsFollowsPages: every page of the list is read, at 100 a
// page, GitHub's most.
func TestListOpenPullsFollowsPages(t *testing.T) {
	var (
		mu    sync.Mutex
		pages []string
	)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pages = append(pages, r.URL.Query().Get("page")+"/"+r.URL.Query().Get("per_page"))
		mu.Unlock()
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3/repos/acme/gitops/pulls?page=2&per_page=100>; rel="next", <%s/api/v3/repos/acme/gitops/pulls?page=2&per_page=100>; rel="last"`, srv.URL, srv.URL))
			fmt.Fprint(w, `[{"number":1,"state":"open"}]`)
			return
		}
		fmt.Fprint(w, `[{"number":2,"state":"open"}]`)
	}))
	defer srv.Close()
	client, err := github.NewClient(nil).WithEnterpriseURLs(srv.URL+"/api/v3/", srv.URL+"/api/v3/")
	if err != nil {
		t.Fatal(err)
	}
	prs, err := prwriter.REST(client).ListOpenPulls(context.Background(), repo, "h", "main")
	if err != nil || len(prs) != 2 || prs[1].Number != 2 {
		t.Fatalf("prs = %+v, %v", prs, err)
	}
	if !slices.Equal(pages, []string{"/100", "2/100"}) {
		t.Errorf("pages asked = %v", pages)
	}
}

// TestModeRefused: a plan edit that is not a regular file never reaches
// GitHub.
func TestModeRefused(t *testing.T) {
	f := newFixture(t)
	p := f.plan(t, "v2")
	p.Edits[0].Mode = "120000"
	_, err := f.w.Apply(context.Background(), f.gh, p)
	if !fate.IsTerminal(err) || !strings.Contains(err.Error(), "git mode 120000") {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls(); n != 0 {
		t.Errorf("%d calls for a refused plan", n)
	}
}
