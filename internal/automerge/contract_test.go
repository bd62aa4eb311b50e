package automerge_test

import (
	"context"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/githubtest"
)

// TestMergesWhenChecksPassOnTheTestServer runs the REST adapter against the
// GitHub test server, where the repository does not allow auto-merge:
// promobot merges itself, and only once the head's checks pass.
func TestMergesWhenChecksPassOnTheTestServer(t *testing.T) {
	const repo = "acme/gitops"
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), StaticToken: "ghp_test", StaticTokenUser: "promobot"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateRepo(repo, "main", map[string]string{"a.yaml": "tag: v1\n"}); err != nil {
		t.Fatal(err)
	}
	gh, err := github.NewClient(nil).WithAuthToken("ghp_test").WithEnterpriseURLs(srv.APIURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	main := srv.Branches(repo)["main"]
	if _, _, err := gh.Git.CreateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("refs/heads/promobot/staging/web"), Object: &github.GitObject{SHA: &main}}); err != nil {
		t.Fatal(err)
	}
	v2 := "tag: v2\n"
	head, err := srv.Commit(repo, "promobot/staging/web", map[string]*string{"a.yaml": &v2}, "Promote web v2 to staging")
	if err != nil {
		t.Fatal(err)
	}
	pr, _, err := gh.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("Promote"), Head: github.String("promobot/staging/web"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	status := func(state string) {
		t.Helper()
		if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "gitops", head, &github.RepoStatus{State: &state, Context: github.String("ci")}); err != nil {
			t.Fatal(err)
		}
	}
	// finish asks until GitHub has computed mergeability (null on the
	// first read after a change, as GitHub documents).
	finish := func() automerge.Result {
		t.Helper()
		var res automerge.Result
		for range 3 {
			res, err = automerge.Finish(ctx, automerge.REST(gh), repo, pr.GetNumber(), "", true)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != "GitHub is still computing mergeability" {
				break
			}
		}
		return res
	}
	status("pending")
	if res := finish(); res.Outcome != automerge.Waiting {
		t.Fatalf("checks pending: %+v, want waiting", res)
	}
	status("success")
	if res := finish(); res.Outcome != automerge.Merged {
		t.Fatalf("checks green: %+v, want merged", res)
	}
	if got, _ := srv.File(repo, "main", "a.yaml"); string(got) != v2 {
		t.Errorf("main after merge = %q", got)
	}
}
