package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/repoindex"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// serverRules configure acme/gitops from the server and a generator over
// its apps; acme/team and acme/broken configure themselves.
const pageServerRules = `version: 1
environments: [{name: dev, auto: true, direct: true}, {name: prod}]
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web,
     targets: {dev: {kustomize: apps/web/dev}, prod: {kustomize: apps/web/prod}}}
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    exclude: ['apps/web']
    service:
      name: '{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      targets:
        dev: { kustomize: '{{.Path}}/dev' }
        prod: { kustomize: '{{.Path}}/prod' }
`

const teamConfigYAML = `version: 1
environments: [{name: qa, auto: true, direct: true}, {name: live}]
generators:
  - directories: 'services/*'
    service:
      name: 'team-{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      targets:
        qa: { kustomize: '{{.Path}}/qa' }
        live: { kustomize: '{{.Path}}/live' }
`

func kustomization(image, tag string) string {
	return "resources: []\nimages:\n  - name: " + image + "\n    newTag: " + tag + "\n"
}

// fakeIndex is the repository configuration index as the page reads it.
type fakeIndex []repoindex.Config

func (f fakeIndex) Configs(*rules.Rules) (uint64, []repoindex.Config) { return 1, f }

type pageFixture struct {
	gh      *githubtest.Server
	mirrors *gitmirror.Mirrors
	src     *uiSource
}

func newPageFixture(t *testing.T) *pageFixture {
	t.Helper()
	dir := t.TempDir()
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), StaticToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	repos := map[string]map[string]string{
		"acme/gitops": {
			"apps/web/dev/kustomization.yaml":  kustomization("r.example.com/web", "v2"),
			"apps/web/prod/kustomization.yaml": kustomization("r.example.com/web", "v1"),
			"apps/cart/dev/kustomization.yaml": kustomization("r.example.com/cart", "c7"),
		},
		"acme/team": {
			rules.DefaultRepoConfigPath:            teamConfigYAML,
			"services/pay/qa/kustomization.yaml":   kustomization("r.example.com/pay", "p3"),
			"services/pay/live/kustomization.yaml": kustomization("r.example.com/pay", "p2"),
		},
		"acme/broken": {
			rules.DefaultRepoConfigPath: "version: 1\nenvironments: [{name: qa}]\nbogus: true\n",
		},
	}
	rs, err := rules.Parse("promotion-rules.yaml", []byte(pageServerRules))
	if err != nil {
		t.Fatal(err)
	}
	f := &pageFixture{gh: gh, mirrors: gitmirror.New(filepath.Join(dir, "mirrors"))}
	for name, files := range repos {
		if err := gh.CreateRepo(name, "main", files); err != nil {
			t.Fatal(err)
		}
		f.fetch(t, name)
	}
	f.src = &uiSource{rules: func() *rules.Rules { return rs }, mirrors: f.mirrors, cache: history.NewCache(8),
		webURL: "https://github.com", now: time.Now, log: zerolog.New(zerolog.NewTestWriter(t)),
		configs:    &checkout.Source{Log: zerolog.Nop()},
		configured: fakeIndex{{Repo: "acme/team", State: repoindex.Valid}, {Repo: "acme/broken", State: repoindex.Invalid}, {Repo: "acme/plain", State: repoindex.None}}}
	t.Cleanup(f.src.settle)
	return f
}

func (f *pageFixture) fetch(t *testing.T, repo string) {
	t.Helper()
	creds := func(context.Context) (string, string, error) { return "x-access-token", "t", nil }
	if err := f.mirrors.Fetch(context.Background(), repo, f.gh.URL()+"/"+repo+".git", creds); err != nil {
		t.Fatal(err)
	}
}

func (f *pageFixture) status(t *testing.T) map[string]ui.Repository {
	t.Helper()
	st, err := f.src.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ui.Repository{}
	for _, rp := range st.Repositories {
		out[rp.Repo] = rp
	}
	return out
}

// cells renders a repository's matrix as "service/env=tag" lines.
func cells(rp ui.Repository) string {
	var out []string
	for _, s := range rp.Services {
		for _, c := range s.Cells {
			if c.Error != "" {
				out = append(out, s.Name+"/"+c.Env+"!"+c.Error)
				continue
			}
			out = append(out, s.Name+"/"+c.Env+"="+c.Tag)
		}
	}
	return strings.Join(out, " ")
}

func TestPageShowsEveryConfiguredRepositoryWithItsGeneratedServices(t *testing.T) {
	f := newPageFixture(t)
	got := f.status(t)
	if len(got) != 3 {
		t.Fatalf("repositories = %v, want acme/broken, acme/gitops and acme/team (not acme/plain, which has no file)", keys(got))
	}
	if c := cells(got["acme/gitops"]); c != "cart/dev=c7 cart/prod!no file apps/cart/prod/kustomization.yaml web/dev=v2 web/prod=v1" {
		t.Errorf("acme/gitops = %q: the generator's cart is missing or wrong", c)
	}
	team := got["acme/team"]
	if c := cells(team); c != "team-pay/qa=p3 team-pay/live=p2" {
		t.Errorf("acme/team = %q", c)
	}
	if strings.Join(team.Environments, ",") != "qa,live" || team.Head == "" || team.Error != "" {
		t.Errorf("acme/team: environments %v, head %q, error %q", team.Environments, team.Head, team.Error)
	}
	broken := got["acme/broken"]
	if !strings.Contains(broken.Error, "configuration does not load") || !strings.Contains(broken.Error, "bogus") || len(broken.Services) != 0 {
		t.Errorf("acme/broken = %+v", broken)
	}

	// The timeline of a generated service of a self-configured repository.
	changes, found, err := f.src.Timeline(context.Background(), "acme/team", "team-pay")
	if err != nil || !found || len(changes) != 2 {
		t.Fatalf("timeline = %+v, %v, %v", changes, found, err)
	}
	if _, found, _ := f.src.Timeline(context.Background(), "acme/gitops", "team-pay"); found {
		t.Error("team-pay is found in acme/gitops")
	}
}

func TestPageShowsANewHeadWithoutWalkingOnTheRequest(t *testing.T) {
	f := newPageFixture(t)
	f.src.freshWait = -1 // a rebuild that takes longer than a request may wait
	first := f.status(t)["acme/team"]

	// A new service directory and a new tag land; a worker fetches.
	files := map[string]*string{
		"services/pay/live/kustomization.yaml": ptr(kustomization("r.example.com/pay", "p3")),
		"services/ship/qa/kustomization.yaml":  ptr(kustomization("r.example.com/ship", "s1")),
	}
	sha, err := f.gh.Commit("acme/team", "main", files, "promote pay, add ship")
	if err != nil {
		t.Fatal(err)
	}
	f.fetch(t, "acme/team")

	// The next request shows the matrix it has, says a newer one is being
	// read, and does not wait for it (beyond freshWait).
	stale := f.status(t)["acme/team"]
	if !stale.Updating || stale.Head != first.Head || cells(stale) != cells(first) {
		t.Errorf("request after the fetch: updating %v, head %.7s (was %.7s), %q", stale.Updating, stale.Head, first.Head, cells(stale))
	}
	f.src.settle()
	fresh := f.status(t)["acme/team"]
	if fresh.Updating || fresh.Head != sha {
		t.Errorf("after the rebuild: updating %v, head %.7s, want %.7s", fresh.Updating, fresh.Head, sha)
	}
	if c := cells(fresh); c != "team-pay/qa=p3 team-pay/live=p3 team-ship/qa=s1 team-ship/live!no file services/ship/live/kustomization.yaml" {
		t.Errorf("after the rebuild: %q", c)
	}
	changes, _, err := f.src.Timeline(context.Background(), "acme/team", "team-ship")
	if err != nil || len(changes) != 1 || changes[0].To != "s1" {
		t.Errorf("timeline of the new service = %+v, %v", changes, err)
	}
}

func TestPageRequestWaitsForAShortRebuild(t *testing.T) {
	f := newPageFixture(t)
	f.src.freshWait = time.Hour // any rebuild is short enough
	f.status(t)
	sha, err := f.gh.Commit("acme/team", "main", map[string]*string{"services/pay/live/kustomization.yaml": ptr(kustomization("r.example.com/pay", "p3"))}, "promote pay")
	if err != nil {
		t.Fatal(err)
	}
	f.fetch(t, "acme/team")
	rp := f.status(t)["acme/team"]
	if rp.Updating || rp.Head != sha || cells(rp) != "team-pay/qa=p3 team-pay/live=p3" {
		t.Errorf("request after the fetch: updating %v, head %.7s (want %.7s), %q", rp.Updating, rp.Head, sha, cells(rp))
	}
}

func TestPageRefreshRebuildsAfterAFetch(t *testing.T) {
	f := newPageFixture(t)
	f.src.freshWait = -1 // the request must not be what rebuilds
	f.status(t)          // built once
	sha, err := f.gh.Commit("acme/gitops", "main", map[string]*string{"apps/web/prod/kustomization.yaml": ptr(kustomization("r.example.com/web", "v2"))}, "promote web")
	if err != nil {
		t.Fatal(err)
	}
	f.fetch(t, "acme/gitops")
	f.src.refresh(context.Background()) // what the refresh loop does after its fetches
	f.src.settle()
	rp := f.status(t)["acme/gitops"]
	if rp.Updating || rp.Head != sha || cells(rp) != "cart/dev=c7 cart/prod!no file apps/cart/prod/kustomization.yaml web/dev=v2 web/prod=v2" {
		t.Errorf("after refresh: updating %v head %.7s (want %.7s) %q", rp.Updating, rp.Head, sha, cells(rp))
	}
}

func keys(m map[string]ui.Repository) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func ptr(s string) *string { return &s }

func TestPageHidesRepositoriesThePolicyNoLongerAdmits(t *testing.T) {
	f := newPageFixture(t)
	rs, err := rules.Parse("promotion-rules.yaml", []byte(pageServerRules+"policy:\n  repositories:\n    allow: ['acme/gitops', 'acme/team']\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.src.rules = func() *rules.Rules { return rs }
	if got := f.status(t); len(got) != 2 || got["acme/broken"].Repo != "" {
		t.Errorf("repositories = %v, want acme/gitops and acme/team (acme/broken is outside repositories.allow)", keys(got))
	}
}

func TestPageRequestGivenUpCachesNothing(t *testing.T) {
	f := newPageFixture(t)
	f.src.freshWait = -1 // what the next request shows is what was kept
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the visitor closed the tab during the first walk
	if _, err := f.src.Status(gone); err != nil {
		t.Fatal(err)
	}
	rp := f.status(t)["acme/team"]
	if rp.Error != "" || cells(rp) != "team-pay/qa=p3 team-pay/live=p2" {
		t.Errorf("after a request given up: error %q, %q", rp.Error, cells(rp))
	}
}
