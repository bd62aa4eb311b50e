package githubtest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

func TestListReviews(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	if err := e.s.ImportMergedPull(testRepo, 5, "promobot/prod/web", "main", "Promote web", "alice", strings.Repeat("a", 40)); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ImportMergedPull(testRepo, 5, "x", "main", "again", "alice", strings.Repeat("a", 40)); err == nil {
		t.Error("a taken number was imported again")
	}
	for _, rv := range [][2]string{{"bob", "COMMENTED"}, {"carol", "APPROVED"}, {"bob", "APPROVED"}} {
		if err := e.s.Review(testRepo, 5, rv[0], rv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Review(testRepo, 5, "bob", "LGTM"); err == nil {
		t.Error("an unknown review state was accepted")
	}
	got, resp, err := gh.PullRequests.ListReviews(e.ctx, "acme", "gitops", 5, &github.ListOptions{PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].GetUser().GetLogin() != "bob" || got[0].GetState() != "COMMENTED" || got[1].GetState() != "APPROVED" ||
		got[0].GetSubmittedAt().IsZero() || got[0].GetCommitID() != strings.Repeat("a", 40) || resp.NextPage != 2 {
		t.Fatalf("page 1: %v, next %d", got, resp.NextPage)
	}
	got, resp, err = gh.PullRequests.ListReviews(e.ctx, "acme", "gitops", 5, &github.ListOptions{PerPage: 2, Page: 2})
	if err != nil || len(got) != 1 || got[0].GetUser().GetLogin() != "bob" || resp.NextPage != 0 {
		t.Fatalf("page 2: %v %v", got, err)
	}
	pr, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", 5)
	if err != nil || !pr.GetMerged() || pr.GetHead().GetRef() != "promobot/prod/web" {
		t.Fatalf("imported pull: %v %v", pr, err)
	}
	// A number that is no pull request answers 404 as GitHub does.
	if _, _, err := gh.PullRequests.ListReviews(e.ctx, "acme", "gitops", 99, nil); err == nil {
		t.Fatal("reviews of a missing pull request")
	} else if code, msg := ghStatus(t, err); code != http.StatusNotFound || msg != "Not Found" {
		t.Fatalf("missing pull: %d %q", code, msg)
	}
}
