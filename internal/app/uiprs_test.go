package app

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// TestClosedPRsLeaveThePage: the background refresh drops the open PR
// entries whose pull request was closed without merging or merged, keeps
// the open ones, and does not judge one recorded within a minute of its
// listing (it may be newer than the list).
func TestClosedPRsLeaveThePage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), StaticToken: "t", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateRepo("acme/gitops", "main", map[string]string{"README.md": "gitops\n"}); err != nil {
		t.Fatal(err)
	}
	open := func(branch string) int {
		t.Helper()
		body := "x\n"
		if _, err := srv.Commit("acme/gitops", branch, map[string]*string{branch + ".txt": &body}, "promote"); err != nil {
			t.Fatal(err)
		}
		n, err := srv.OpenPullRequest("acme/gitops", branch, "main", "promote", "", "promobot")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	clients, err := ghapp.New(ghapp.Config{APIURL: srv.APIURL(), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := github.NewClient(nil).WithAuthToken("t").WithEnterpriseURLs(srv.APIURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	closePR := func(n int) {
		t.Helper()
		if _, _, err := gh.PullRequests.Edit(ctx, "acme", "gitops", n, &github.PullRequest{State: github.String("closed")}); err != nil {
			t.Fatal(err)
		}
	}

	a, _ := deadApp(t, ctx, queue.Config{})
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	a.live.now = func() time.Time { return now }
	srv.ResetCalls()
	if err := a.live.prunePRs(ctx, "acme/gitops", ghPulls{clients}); err != nil || len(srv.Calls()) != 0 {
		t.Fatalf("without PR entries: %v, GitHub calls %+v", err, srv.Calls())
	}
	prs := map[string]int{}
	for _, svc := range []string{"web", "api", "db"} {
		prs[svc] = open("promobot/" + svc)
		in := promotion(svc+":0", "v2")
		in.Services = []string{svc}
		a.live.observe(ctx, worker.Result{Intent: in, Outcome: worker.Opened, PR: prs[svc]})
	}
	if _, err := srv.Merge("acme/gitops", prs["api"], "alice"); err != nil {
		t.Fatal(err)
	}
	closePR(prs["db"])
	now = now.Add(2 * time.Minute)
	srv.ResetCalls()
	if err := a.live.prunePRs(ctx, "acme/gitops", ghPulls{clients}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d GitHub calls to check three PR entries, want one listing", n)
	}
	for svc, want := range map[string]int{"web": prs["web"], "api": 0, "db": 0} {
		var got int
		for _, p := range cellFor(t, ctx, a, svc, "v1").OpenPRs {
			got = p.Number
		}
		if got != want {
			t.Errorf("%s: open PR #%d shown, want #%d", svc, got, want)
		}
	}

	fresh := open("promobot/new")
	a.live.observe(ctx, worker.Result{Intent: promotion("new:0", "v3"), Outcome: worker.Opened, PR: fresh})
	closePR(fresh)
	if err := a.live.prunePRs(ctx, "acme/gitops", ghPulls{clients}); err != nil {
		t.Fatal(err)
	}
	if c := cellFor(t, ctx, a, "web", "v1"); len(c.OpenPRs) != 1 || c.OpenPRs[0].Number != fresh {
		t.Errorf("a PR recorded within the minute was judged: %+v", c.OpenPRs)
	}
	now = now.Add(2 * time.Minute)
	if err := a.live.prunePRs(ctx, "acme/gitops", ghPulls{clients}); err != nil {
		t.Fatal(err)
	}
	if c := cellFor(t, ctx, a, "web", "v1"); len(c.OpenPRs) != 0 {
		t.Errorf("closed PR still shown at the next refresh: %+v", c.OpenPRs)
	}
}
