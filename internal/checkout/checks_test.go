package checkout

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/planner"
)

// The health gate's results come from commit statuses and check runs as
// GitHub answers them: the latest status per context, a check run counts
// only by its conclusion, and a name reported both ways counts its worst.
func TestCheckResultsFromGitHub(t *testing.T) {
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(t.TempDir(), "github"), StaticToken: "ghp_test", StaticTokenUser: "promobot"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	const repo = "acme/gitops"
	if err := gh.CreateRepo(repo, "main", map[string]string{"a.yaml": "x: 1\n"}); err != nil {
		t.Fatal(err)
	}
	sha := gh.Branches(repo)["main"]
	set := func(ctx, state string) {
		t.Helper()
		if err := gh.SetStatus(repo, sha, ctx, state, "https://cd.example.com/"+ctx, "argocd"); err != nil {
			t.Fatal(err)
		}
	}
	set("cd/web", "pending")
	set("cd/web", "success") // the latest counts
	set("cd/api", "failure")
	set("both", "success")
	run := func(name, conclusion string) {
		t.Helper()
		id, err := gh.CreateCheckRun(repo, sha, name)
		if err != nil {
			t.Fatal(err)
		}
		if conclusion != "" {
			if err := gh.CompleteCheckRun(repo, id, conclusion); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("smoke", "success")
	run("e2e", "neutral")
	run("slow", "")
	run("both", "failure")
	client, err := github.NewClient(nil).WithAuthToken("ghp_test").WithEnterpriseURLs(gh.APIURL(), gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	c := checks{repo: repo, gh: RESTChecks(client)}
	got, err := c.Results(context.Background(), sha, []string{"cd/web", "cd/api", "smoke", "e2e", "slow", "both", "never"})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, r := range got {
		states[r.Name] = r.State
	}
	want := map[string]string{"cd/web": "success", "cd/api": "failure", "smoke": "success", "e2e": "failure", "slow": "pending", "both": "failure"}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	for _, r := range got {
		if r.Name == "cd/api" && r.URL != "https://cd.example.com/cd/api" {
			t.Errorf("cd/api link %q", r.URL)
		}
	}
}

func TestPick(t *testing.T) {
	got := pick([]string{"a", "b"}, []planner.CheckResult{{Name: "a", State: "success"}, {Name: "a", State: "error"}, {Name: "b", State: "pending"}, {Name: "c", State: "failure"}})
	want := []planner.CheckResult{{Name: "a", State: "error"}, {Name: "b", State: "pending"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pick = %+v, want %+v", got, want)
	}
}
