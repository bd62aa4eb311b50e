package checkout

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/prwriter"
)

// A build's status goes out with the installation of the delivery that
// reported the build; the GitOps repository's installation serves only
// when they are the same (or the source's is unknown).
func TestStatusesUseTheSourceInstallation(t *testing.T) {
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(t.TempDir(), "github"), AppID: 7, AppPublicKey: pub, InstallationID: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	if err := gh.CreateRepo("buildco/app", "main", map[string]string{"main.go": "package main\n"}); err != nil {
		t.Fatal(err)
	}
	sha := gh.Branches("buildco/app")["main"]
	clients, err := ghapp.New(ghapp.Config{APIURL: gh.APIURL(), AppID: 7, PrivateKey: key, Retry: ghretry.Config{ContentPace: -1}})
	if err != nil {
		t.Fatal(err)
	}
	s := &Source{Clients: clients}
	ctx := context.Background()
	status := prwriter.CommitStatus{State: "success", Context: "promobot/dev", Description: "promotion to dev: committed"}
	for _, tc := range []struct {
		name   string
		source int64
		ok     bool
		token  string // the installation whose token was asked for
	}{
		{"same installation", 1, true, "/app/installations/1/access_tokens"},
		{"unknown source installation", 0, true, "/app/installations/1/access_tokens"},
		{"another organisation's installation", 2, false, "/app/installations/2/access_tokens"},
	} {
		gh.ResetCalls()
		in := intent.Intent{Repo: "acme/gitops", InstallationID: 1, Source: intent.SourceRef{Repo: "buildco/app", SHA: sha, InstallationID: tc.source}}
		repo, err := s.Open(ctx, in)
		if err != nil {
			t.Fatalf("%s: open: %v", tc.name, err)
		}
		err = repo.Statuses.CreateStatus(ctx, "buildco/app", sha, status)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CreateStatus = %v, want ok %v", tc.name, err, tc.ok)
		}
		asked := false
		for _, c := range gh.Calls() {
			asked = asked || strings.HasSuffix(c.Path, tc.token)
		}
		if !asked && tc.source == 2 {
			t.Errorf("%s: no token was asked of installation 2: %v", tc.name, gh.CallCounts())
		}
	}
	if st := gh.Statuses("buildco/app", sha); len(st) != 2 {
		t.Errorf("%d statuses on the build's commit, want 2 (the two through installation 1)", len(st))
	}
}
