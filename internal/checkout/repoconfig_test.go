package checkout

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/rules"
)

// policyRules is testRules (which configure acme/gitops from the server)
// with an organisation policy.
const policyRules = testRules + `policy:
  environments:
    'prod*':
      reviewers: { teams: [acme/release-managers] }
      ticket: { required: true }
      autoMerge: false
  repositories:
    allow: ['acme/*']
`

// teamConfig is acme/gitops's own configuration: one environment chain
// with an extra service the server does not know.
const teamConfig = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: prod }
services:
  - name: api
    image: registry.example.com/api
    targets:
      dev: { kustomize: apps/api/overlays/dev }
      prod: { kustomize: apps/api/overlays/prod-eu }
  - name: worker
    image: registry.example.com/worker
    targets:
      dev: { kustomize: apps/api/overlays/dev }
`

func (f *fixture) withPolicy(t *testing.T) {
	t.Helper()
	rs, err := rules.Parse("promotion-rules.yaml", []byte(policyRules))
	if err != nil {
		t.Fatal(err)
	}
	f.rs = rs
	f.src.Rules = func() *rules.Rules { return rs }
}

func (f *fixture) writeConfig(t *testing.T, content string) string {
	t.Helper()
	sha, err := f.gh.Commit(gitopsRepo, "main", map[string]*string{rules.DefaultRepoConfigPath: &content}, "configure promobot")
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

func (f *fixture) read(t *testing.T, sha string) (Tree, error) {
	t.Helper()
	ctx := context.Background()
	repo, err := f.src.Open(ctx, f.push(sha))
	if err != nil {
		t.Fatal(err)
	}
	return repo.Read(ctx)
}

func TestRepositoryConfigurationDecides(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.withPolicy(t)

	// Without its own file the repository follows the server's services.
	tree, err := f.read(t, f.head(t))
	if err != nil {
		t.Fatal(err)
	}
	if tree.Rules != f.rs {
		t.Fatal("a repository without configuration must use the server's rules")
	}

	sha := f.writeConfig(t, teamConfig)
	tree, err = f.read(t, sha)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tree.Rules.Service("worker"); !ok {
		t.Fatal("the repository's own service is unknown")
	}
	if src, ok := tree.Rules.ConfigSource(); !ok || src.Commit != sha || src.Path != rules.DefaultRepoConfigPath {
		t.Fatalf("config source %+v, want commit %s", src, sha)
	}
	prod, _ := tree.Rules.Env("api", "prod")
	if !prod.Ticket.Required || strings.Join(prod.Policy.Reviewers.Teams, ",") != "acme/release-managers" {
		t.Fatalf("prod %+v: the policy is merged in", prod)
	}

	// Every later intent on the commit is a cache hit.
	before := f.src.ConfigStats()
	for range 10 {
		if _, err := f.read(t, sha); err != nil {
			t.Fatal(err)
		}
	}
	after := f.src.ConfigStats()
	if after.Misses != before.Misses || after.Hits < before.Hits+10 {
		t.Fatalf("stats %+v → %+v: want 10 hits and no miss", before, after)
	}
}

func TestInvalidRepositoryConfigurationStopsPromotions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.withPolicy(t)
	good := f.writeConfig(t, teamConfig)
	if _, err := f.read(t, good); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(teamConfig, "  - { name: prod }\n", "  - { name: prod, autoMerge: true }\n  - { name: Bad! }\n", 1)
	bad := f.writeConfig(t, broken)
	for range 3 {
		_, err := f.read(t, bad)
		if !errors.Is(err, ErrInvalidConfig) || !fate.IsTerminal(err) {
			t.Fatalf("read: %v, want a terminal ErrInvalidConfig (the previous configuration is not used)", err)
		}
		if !strings.Contains(err.Error(), ".github/promobot.yaml:5:") {
			t.Fatalf("error %q lacks file and line", err)
		}
	}
	var config []string
	for _, st := range f.gh.Statuses(gitopsRepo, bad) {
		if st.Context == ConfigStatusContext {
			config = append(config, st.State+" "+st.Description+" "+st.TargetURL)
		}
	}
	if len(config) != 1 {
		t.Fatalf("promobot/config statuses on the bad commit: %q, want exactly one", config)
	}
	for _, want := range []string{"failure 2 errors; .github/promobot.yaml:4:", "environments[1].autoMerge", "/acme/gitops/blob/" + bad + "/.github/promobot.yaml#L4"} {
		if !strings.Contains(config[0], want) {
			t.Errorf("status %q lacks %q", config[0], want)
		}
	}

	// A push that fixes it resumes promotions.
	fixed := f.writeConfig(t, teamConfig)
	if _, err := f.read(t, fixed); err != nil {
		t.Fatalf("fixed: %v", err)
	}
}

func TestRepositoryOutsideThePolicyIsIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rs, err := rules.Parse("promotion-rules.yaml", []byte(strings.Replace(policyRules, "'acme/*'", "'other/*'", 1)))
	if err != nil {
		t.Fatal(err)
	}
	f.src.Rules = func() *rules.Rules { return rs }
	_, err = f.read(t, f.head(t))
	if !errors.Is(err, ErrIgnored) {
		t.Fatalf("read: %v, want ErrIgnored", err)
	}
}

func TestConfigDescriptionFitsAStatus(t *testing.T) {
	errs := rules.Errors{{File: ".github/promobot.yaml", Line: 3, Column: 5, Field: "environments[0].name", Msg: strings.Repeat("x", 300)}}
	if d := ConfigDescription(errs); !strings.HasPrefix(d, ".github/promobot.yaml:3:5: environments[0].name: ") {
		t.Fatalf("description %q", d)
	}
}

// A configuration path that is not a regular file is an invalid
// configuration, not "none": the repository asked to configure itself.
func TestRepositoryConfigurationThatIsNoFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.withPolicy(t)
	inside := "version: 1\n"
	sha, err := f.gh.Commit(gitopsRepo, "main", map[string]*string{rules.DefaultRepoConfigPath + "/inside.yaml": &inside}, "a directory")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.read(t, sha)
	if !errors.Is(err, ErrInvalidConfig) || !fate.IsTerminal(err) {
		t.Fatalf("read: %v, want a terminal ErrInvalidConfig", err)
	}
	huge := "version: 1\n#" + strings.Repeat("x", rules.MaxFileSize) + "\n"
	sha = f.writeConfig(t, huge)
	if _, err = f.read(t, sha); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized: %v", err)
	}
}

// A configuration decides on the rules file's base branch unless it names
// its own; then it is read again, and decides, there.
func TestRepositoryConfigurationBaseBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rs, err := rules.Parse("promotion-rules.yaml", []byte(strings.Replace(policyRules, "baseBranch: main", "baseBranch: trunk", 1)))
	if err != nil {
		t.Fatal(err)
	}
	f.src.Rules = func() *rules.Rules { return rs }
	content := teamConfig
	if _, err := f.gh.Commit(gitopsRepo, "trunk", map[string]*string{rules.DefaultRepoConfigPath: &content}, "configure on trunk"); err != nil {
		t.Fatal(err)
	}
	tree, err := f.read(t, f.gh.Branches(gitopsRepo)["trunk"])
	if err != nil {
		t.Fatal(err)
	}
	if tree.Rules.Defaults.BaseBranch != "trunk" || tree.Views.Base.Commit() != f.gh.Branches(gitopsRepo)["trunk"] {
		t.Fatalf("base branch %q at %s: a configuration naming none decides on the rules file's", tree.Rules.Defaults.BaseBranch, tree.Views.Base.Commit())
	}
	own := "defaults: { baseBranch: main }\n" + teamConfig
	if _, err := f.gh.Commit(gitopsRepo, "trunk", map[string]*string{rules.DefaultRepoConfigPath: &own}, "decide on main"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gh.Commit(gitopsRepo, "main", map[string]*string{rules.DefaultRepoConfigPath: &own}, "configure main"); err != nil {
		t.Fatal(err)
	}
	tree, err = f.read(t, f.gh.Branches(gitopsRepo)["trunk"])
	if err != nil {
		t.Fatal(err)
	}
	if main := f.gh.Branches(gitopsRepo)["main"]; tree.Views.Base.Commit() != main {
		t.Fatalf("decided on %s, want main's head %s", tree.Views.Base.Commit(), main)
	}
}
