package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const indexServerRules = `version: 1
environments: [{name: dev, auto: true}, {name: prod}]
services:
  - name: payment
    repo: acme/gitops
    image: r.example.com/payment
    source: {repo: acme/app, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}'}
    targets: {dev: {kustomize: apps/payment/dev}, prod: {kustomize: apps/payment/prod}}
  - name: stale
    repo: acme/team-a
    image: r.example.com/stale
    source: {repo: acme/app, workflow: .github/workflows/build.yml, branch: main}
    targets: {dev: {kustomize: apps/stale/dev}, prod: {kustomize: apps/stale/prod}}
`

const indexTeamA = `version: 1
environments: [{name: dev}, {name: prod, auto: true}]
services:
  - name: orders
    image: r.example.com/orders
    source: {repo: acme/app, workflow: .github/workflows/build.yml, branch: main, tag: 'orders-{{.ShortSHA}}'}
    targets: {dev: {kustomize: apps/orders/dev}, prod: {kustomize: apps/orders/prod}}
`

type fakeIndex []RepoConfig

func (f fakeIndex) RepoConfigs(*rules.Rules) []RepoConfig { return f }

const (
	srcSHA   = "3484a3f0d7c9d6c5b9e0b6f0b3c1a8f1e2d3c4b5"
	afterSHA = "9f0e1d2c3b4a59687766554433221100ffeeddcc"
)

func workflowRunPayload(repo string) string {
	return fmt.Sprintf(`{"action":"completed","installation":{"id":7},"repository":{"full_name":%q,"html_url":"https://github.com/%s"},
"sender":{"login":"alice"},"workflow":{"path":".github/workflows/build.yml"},
"workflow_run":{"conclusion":"success","head_branch":"main","head_sha":%q,"path":".github/workflows/build.yml","run_number":3,"event":"push","head_repository":{"full_name":%q}}}`,
		repo, repo, srcSHA, repo)
}

func pushPayload(repo, branch string, paths ...string) string {
	p, _ := json.Marshal(paths)
	return fmt.Sprintf(`{"ref":"refs/heads/%s","after":%q,"installation":{"id":7},"repository":{"full_name":%q,"html_url":"https://github.com/%s","clone_url":"https://github.com/%s.git"},
"sender":{"login":"alice"},"head_commit":{"id":%q,"message":"change","added":[],"modified":%s,"removed":[]},"commits":[]}`,
		branch, afterSHA, repo, repo, repo, afterSHA, p)
}

func commentPayload(repo, body string) string {
	return fmt.Sprintf(`{"action":"created","installation":{"id":7},"repository":{"full_name":%q},
"comment":{"id":11,"body":%q,"html_url":"https://github.com/%s/issues/4#issuecomment-11","user":{"login":"alice","type":"User"}},
"sender":{"login":"alice","type":"User"},"issue":{"number":4,"title":"t"}}`, repo, body, repo)
}

func prPayload(repo, user, userType string) string {
	return fmt.Sprintf(`{"action":"opened","number":5,"installation":{"id":7},"repository":{"full_name":%q,"html_url":"https://github.com/%s"},
"pull_request":{"state":"open","html_url":"https://github.com/%s/pull/5","title":"t","user":{"login":%q,"type":%q},"head":{"sha":%q},"base":{"ref":"main"}}}`,
		repo, repo, repo, user, userType, afterSHA)
}

// TestClassifyWithTheIndex: events are classified with the server's rules
// and each indexed repository configuration; a repository with its own
// file is not decided by the server's services; an invalid configuration
// gets only the configuration read; a command in an unconfigured
// repository gets the one-time answer.
func TestClassifyWithTheIndex(t *testing.T) {
	server, err := rules.Parse("rules.yaml", []byte(indexServerRules))
	if err != nil {
		t.Fatal(err)
	}
	teamA, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: "acme/team-a", Path: rules.DefaultRepoConfigPath, Commit: afterSHA}, []byte(indexTeamA), server.Policy)
	if err != nil {
		t.Fatal(err)
	}
	idx := fakeIndex{
		{Repo: "acme/quiet"}, // indexed, no file
		{Repo: "acme/team-a", Rules: teamA},
		{Repo: "acme/team-b", Invalid: true},
	}
	type want struct {
		kind       intent.Kind
		repo       string
		svc, to    string
		tag, reply string
	}
	for _, tc := range []struct {
		name    string
		index   fakeIndex
		event   string
		payload string
		want    []want
	}{
		{"build without an index", nil, "workflow_run", workflowRunPayload("acme/app"), []want{
			{intent.KindUpdate, "acme/gitops", "payment", "dev", "sha-3484a3f", ""},
			{intent.KindUpdate, "acme/team-a", "stale", "dev", "sha-3484a3f", ""}}},
		{"build with the index: the team's own services replace the server's", idx, "workflow_run", workflowRunPayload("acme/app"), []want{
			{intent.KindUpdate, "acme/gitops", "payment", "dev", "sha-3484a3f", ""},
			{intent.KindUpdate, "acme/team-a", "orders", "dev", "orders-3484a3f", ""}}},
		{"push to a team's dev follows its own rules", idx, "push", pushPayload("acme/team-a", "main", "apps/orders/dev/kustomization.yaml"), []want{
			{intent.KindPromote, "acme/team-a", "orders", "prod", "", ""}}},
		{"push that changes a team's configuration", idx, "push", pushPayload("acme/team-a", "main", ".github/promobot.yaml", "apps/orders/dev/kustomization.yaml"), []want{
			{intent.KindPromote, "acme/team-a", "orders", "prod", "", ""},
			{intent.KindConfig, "acme/team-a", "", "", "", ""}}},
		{"push to another branch reads no configuration", idx, "push", pushPayload("acme/team-a", "feature", ".github/promobot.yaml"), nil},
		{"invalid configuration: no promotion", idx, "push", pushPayload("acme/team-b", "main", "apps/billing/dev/kustomization.yaml"), nil},
		{"invalid configuration: its fix is read", idx, "push", pushPayload("acme/team-b", "main", ".github/promobot.yaml"), []want{
			{intent.KindConfig, "acme/team-b", "", "", "", ""}}},
		{"a first configuration in an unknown repository is read", nil, "push", pushPayload("acme/new", "main", ".github/promobot.yaml"), []want{
			{intent.KindConfig, "acme/new", "", "", "", ""}}},
		{"invalid configuration: no command", idx, "issue_comment", commentPayload("acme/team-b", "/promote prod"), nil},
		{"command in a team repository", idx, "issue_comment", commentPayload("acme/team-a", "/promote prod orders"), []want{
			{intent.KindPromote, "acme/team-a", "orders", "prod", "", ""}}},
		{"command in an unconfigured repository", idx, "issue_comment", commentPayload("acme/quiet", "/promote prod"), []want{
			{intent.KindNoConfig, "acme/quiet", "", "", "", "add `.github/promobot.yaml`"}}},
		{"chatter in an unconfigured repository", idx, "issue_comment", commentPayload("acme/quiet", "looks good"), nil},
		{"pull request in a team repository: its policy and its configuration", idx, "pull_request", prPayload("acme/team-a", "dave", "User"), []want{
			{intent.KindPolicy, "acme/team-a", "", "", "", ""},
			{intent.KindConfigCheck, "acme/team-a", "", "", "", ""}}},
		{"pull request in an invalid repository (its fix)", idx, "pull_request", prPayload("acme/team-b", "dave", "User"), []want{
			{intent.KindConfigCheck, "acme/team-b", "", "", "", ""}}},
		{"pull request by a bot: its policy only", idx, "pull_request", prPayload("acme/team-a", "promobot[bot]", "Bot"), []want{
			{intent.KindPolicy, "acme/team-a", "", "", "", ""}}},
		{"pull request in an unknown repository", idx, "pull_request", prPayload("acme/other", "dave", "User"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Delivery{Event: tc.event, ID: "d-1", Payload: []byte(tc.payload), Received: time.Unix(0, 0)}
			c, err := classify(&ruleSets{server: server, repos: tc.index}, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.intents) != len(tc.want) {
				t.Fatalf("got %d intents %+v (note %q), want %d", len(c.intents), c.intents, c.note, len(tc.want))
			}
			for i, w := range tc.want {
				in := c.intents[i]
				if in.ID != intent.MsgID("d-1", i) {
					t.Errorf("intent %d id %q, want %q", i, in.ID, intent.MsgID("d-1", i))
				}
				got := want{in.Kind, in.Repo, strings.Join(in.Services, ","), in.To, in.Tag, ""}
				w2 := w
				w2.reply = ""
				if got != w2 {
					t.Errorf("intent %d = %+v, want %+v", i, got, w2)
				}
				if w.reply != "" && !strings.Contains(in.Reply, w.reply) {
					t.Errorf("reply %q lacks %q", in.Reply, w.reply)
				}
				if err := in.Validate(); err != nil {
					t.Errorf("intent %d: %v", i, err)
				}
			}
		})
	}
}

// FuzzClassifyWithIndex: with repository configurations indexed (valid,
// invalid, none), random events never panic, intents are numbered in
// order and validate, and a repository with an invalid configuration gets
// no intent but a configuration read or check.
func FuzzClassifyWithIndex(f *testing.F) {
	seedPayloads(f, func(event string, body []byte) { f.Add(event, body) })
	for _, s := range []struct{ event, body string }{
		{"workflow_run", workflowRunPayload("acme/app")},
		{"push", pushPayload("acme/team-b", "main", ".github/promobot.yaml", "apps/x")},
		{"push", pushPayload("acme/team-a", "main", "apps/orders/dev/kustomization.yaml")},
		{"issue_comment", commentPayload("acme/quiet", "/promote prod")},
		{"pull_request", prPayload("acme/team-b", "dave", "User")},
	} {
		f.Add(s.event, []byte(s.body))
	}
	server, err := rules.Parse("rules.yaml", []byte(indexServerRules))
	if err != nil {
		f.Fatal(err)
	}
	teamA, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: "acme/team-a", Path: rules.DefaultRepoConfigPath}, []byte(indexTeamA), server.Policy)
	if err != nil {
		f.Fatal(err)
	}
	idx := fakeIndex{{Repo: "acme/quiet"}, {Repo: "acme/team-a", Rules: teamA}, {Repo: "acme/team-b", Invalid: true}}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		c, err := classify(&ruleSets{server: server, repos: idx}, Delivery{Event: event, ID: "fuzz-1", Payload: body, Received: fixedNow})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for i, in := range c.intents {
			if in.ID != intent.MsgID("fuzz-1", i) {
				t.Fatalf("intent %d has id %q", i, in.ID)
			}
			if err := in.Validate(); err != nil {
				t.Fatalf("invalid intent: %v", err)
			}
			if strings.EqualFold(in.Repo, "acme/team-b") && in.Kind != intent.KindConfig && in.Kind != intent.KindConfigCheck {
				t.Fatalf("%s intent for a repository with an invalid configuration", in.Kind)
			}
		}
	})
}

// benchIndex is n indexed team repositories, each with its own service
// built from acme/app-<i>.
func benchIndex(b *testing.B, server *rules.Rules, n int) fakeIndex {
	idx := make(fakeIndex, 0, n)
	for i := range n {
		repo := fmt.Sprintf("acme/team-%03d", i)
		cfg := strings.ReplaceAll(indexTeamA, "acme/app", fmt.Sprintf("acme/app-%03d", i))
		rs, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: repo, Path: rules.DefaultRepoConfigPath}, []byte(cfg), server.Policy)
		if err != nil {
			b.Fatal(err)
		}
		idx = append(idx, RepoConfig{Repo: repo, Rules: rs})
	}
	return idx
}

// BenchmarkClassifyBuildIndex measures classifying one build (a
// workflow_run of a source repository) against the server's rules and 0,
// 10 or 100 indexed repository configurations, one of which builds it.
func BenchmarkClassifyBuildIndex(b *testing.B) {
	server, err := rules.Parse("rules.yaml", []byte(indexServerRules))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("repos=%d", n), func(b *testing.B) {
			sets := &ruleSets{server: server, repos: benchIndex(b, server, n)}
			body := []byte(workflowRunPayload("acme/app-005"))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := classify(sets, Delivery{Event: "workflow_run", ID: "b-1", Payload: body, Received: fixedNow}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHealthOfASelfConfiguredRepositoryWakesItsPromotion: a status naming
// a health check of a repository's own configuration wakes the automatic
// promotion out of that environment, as the server's rules do for theirs;
// a repository whose configuration does not load wakes nothing.
func TestHealthOfASelfConfiguredRepositoryWakesItsPromotion(t *testing.T) {
	server, err := rules.Parse("rules.yaml", []byte(indexServerRules))
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Replace(indexTeamA, "environments: [{name: dev}, {name: prod, auto: true}]",
		"environments: [{name: dev, health: {checks: ['argocd/{{.Service}}-{{.Env}}']}}, {name: prod, auto: true}]", 1)
	teamA, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: "acme/team-a", Path: rules.DefaultRepoConfigPath, Commit: afterSHA}, []byte(own), server.Policy)
	if err != nil {
		t.Fatal(err)
	}
	idx := fakeIndex{{Repo: "acme/team-a", Rules: teamA}, {Repo: "acme/team-b", Invalid: true}}
	for _, tc := range []struct {
		repo string
		want []intent.Kind
	}{
		{"acme/team-a", []intent.Kind{intent.KindPromote, intent.KindPolicy, intent.KindHealth}},
		{"acme/team-b", nil},
	} {
		body := strings.ReplaceAll(string(statusPayload("success", "argocd/orders-dev", "https://argocd.example.com/orders", "main")), "acme/gitops", tc.repo)
		c, err := classify(&ruleSets{server: server, repos: idx}, Delivery{Event: "status", ID: "d-1", Payload: []byte(body), Received: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		var got []intent.Kind
		for _, in := range c.intents {
			got = append(got, in.Kind)
			if in.Kind == intent.KindPromote && (in.Repo != "acme/team-a" || in.From != "dev" || in.To != "prod" || len(in.Services) != 1 || in.Services[0] != "orders") {
				t.Errorf("%s: promote %+v, want orders dev→prod in acme/team-a", tc.repo, in)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: intents %v (%s), want %v", tc.repo, got, c.note, tc.want)
		}
	}
}
