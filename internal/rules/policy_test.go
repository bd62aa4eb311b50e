package rules

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// serverPolicy is a server rules file with the policy.
const serverPolicy = `version: 1
environments:
  - name: dev
services: []
policy:
  environments:
    'prod*':
      ticket: { required: true }
      reviewers: { teams: [acme/release-managers], minimum: 1 }
      promoters: { teams: [acme/release-managers, acme/payments] }
      windows: [ { deny: '0 0 24 12 *', duration: 72h, timezone: UTC } ]
      soak: 2h
      autoMerge: false
  images:
    allow: ['registry.example.com/*']
  repositories:
    allow: ['acme/*']
`

// teamConfig is a valid repository configuration.
const teamConfig = `version: 1
environments:
  - name: dev
    auto: true
  - name: prod
    reviewers: { teams: [acme/payments] }
services:
  - name: api
    image: registry.example.com/payments/api
    targets:
      dev: { kustomize: apps/api/dev }
      prod: { kustomize: apps/api/prod }
`

func loadPolicy(t *testing.T) *Policy {
	t.Helper()
	rs, err := Parse("rules.yaml", []byte(serverPolicy))
	if err != nil {
		t.Fatalf("server rules: %v", err)
	}
	if rs.Policy == nil {
		t.Fatal("policy not loaded")
	}
	return rs.Policy
}

func TestRepoConfigMergedWithPolicy(t *testing.T) {
	pol := loadPolicy(t)
	rs, err := ParseRepoConfig(ConfigSource{Repo: "acme/payments-gitops", Path: DefaultRepoConfigPath, Commit: "abc"}, []byte(teamConfig), pol)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := rs.Service("api")
	if !ok || svc.Repo != "acme/payments-gitops" {
		t.Fatalf("service api: %+v %v (repo is implied)", svc, ok)
	}
	if got := rs.ServicesIn("acme/payments-gitops"); len(got) != 1 {
		t.Fatalf("ServicesIn: %d", len(got))
	}
	prod, _ := rs.Env("api", "prod")
	if !prod.Ticket.Required || !prod.Policy.Ticket {
		t.Errorf("ticket: %+v marks %+v, want required by policy", prod.Ticket, prod.Policy)
	}
	if strings.Join(prod.Reviewers.Teams, ",") != "acme/payments,acme/release-managers" {
		t.Errorf("reviewers %v: policy's are added to the repository's own", prod.Reviewers.Teams)
	}
	if strings.Join(prod.Policy.Reviewers.Teams, ",") != "acme/release-managers" || prod.Policy.ReviewMinimum != 1 {
		t.Errorf("reviewer marks %+v", prod.Policy)
	}
	if prod.Soak != 2*time.Hour || !prod.Policy.Soak {
		t.Errorf("soak %s marks %+v", prod.Soak, prod.Policy)
	}
	if !prod.Policy.Promoters || len(prod.Promoters.Teams) != 2 {
		t.Errorf("promoters %+v", prod.Promoters)
	}
	if ws := rs.Windows("api", "prod"); len(ws) != 1 || ws[0].Allow {
		t.Fatalf("windows %+v: the policy's deny window applies", ws)
	}
	christmas := time.Date(2026, 12, 25, 10, 0, 0, 0, time.UTC)
	if !rs.Windows("api", "prod")[0].Open(christmas) {
		t.Error("the policy's freeze does not cover Christmas")
	}
	if rs.FindTicket("api", "prod", "fix OPS-12") != "OPS-12" {
		t.Error("ticket pattern not compiled for a raised requirement")
	}
	dev, _ := rs.Env("api", "dev")
	if dev.Policy.Any() || dev.Ticket.Required {
		t.Errorf("dev is outside prod*: %+v", dev.Policy)
	}
	if src, ok := rs.ConfigSource(); !ok || src.Commit != "abc" || src.Repo != "acme/payments-gitops" {
		t.Errorf("source %+v %v", src, ok)
	}
	notes := strings.Join(prod.Policy.Notes(), "; ")
	for _, want := range []string{"change ticket required", "@acme/release-managers (at least 1 review)", `deny window "0 0 24 12 *"`, "minimum soak time"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
}

func TestRepoConfigTighterThanPolicyIsKept(t *testing.T) {
	pol := loadPolicy(t)
	cfg := strings.Replace(teamConfig, "  - name: prod\n", "  - name: prod\n    soak: 4h\n    ticket: { required: true, pattern: 'PAY-\\d+' }\n    promoters: { teams: [acme/payments] }\n", 1)
	rs, err := ParseRepoConfig(ConfigSource{Repo: "acme/x"}, []byte(cfg), pol)
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := rs.Env("api", "prod")
	if prod.Soak != 4*time.Hour || prod.Policy.Soak {
		t.Errorf("soak %s (marked %v): a longer soak stays", prod.Soak, prod.Policy.Soak)
	}
	if prod.Ticket.Pattern != `PAY-\d+` || prod.Policy.Ticket {
		t.Errorf("ticket %+v: the repository's tighter pattern stays", prod.Ticket)
	}
	if strings.Join(prod.Promoters.Teams, ",") != "acme/payments" || prod.Policy.Promoters {
		t.Errorf("promoters %+v", prod.Promoters)
	}
}

func TestRepoConfigRejections(t *testing.T) {
	pol := loadPolicy(t)
	tests := []struct {
		name     string
		old, new string
		field    string
		line     int
		msg      string
	}{
		{"repo is implied", "  - name: api\n", "  - name: api\n    repo: acme/other\n", "services[0].repo", 9, "repo is implied"},
		{"policy in a repository", "version: 1\n", "version: 1\npolicy: {}\n", "policy", 2, "policy belongs in the server"},
		{"auto-merge in prod", "  - name: prod\n", "  - name: prod\n    autoMerge: true\n", "environments[1].autoMerge", 6, "does not allow auto-merge"},
		{"ticket dropped", "  - name: prod\n", "  - name: prod\n    ticket: { required: false }\n", "environments[1].ticket.required", 6, "requires a change ticket"},
		{"soak shortened", "  - name: prod\n", "  - name: prod\n    soak: 30m\n", "environments[1].soak", 6, "at least 2h"},
		{"promoter outside policy", "  - name: prod\n", "  - name: prod\n    promoters: { users: [mallory] }\n", "environments[1].promoters.users[0]", 6, "does not allow @mallory"},
		{"service override auto-merge", "    targets:\n", "    environments:\n      prod: { autoMerge: true }\n    targets:\n", "services[0].environments.prod.autoMerge", 11, "does not allow auto-merge"},
		{"image outside allow list", "image: registry.example.com/payments/api", "image: docker.io/evil/api", "services[0].image", 9, "service api: image \"docker.io/evil/api\" is not allowed"},
		{"unknown field", "    auto: true\n", "    auto: true\n    autoMerje: true\n", "environments[0].autoMerje", 5, "unknown field"},
		{"not a mapping", "", "- a\n", "", 1, "must be a mapping"},
		{"empty", "", " ", "", 1, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.new
			if tt.old != "" {
				if !strings.Contains(teamConfig, tt.old) {
					t.Fatalf("base lacks %q", tt.old)
				}
				cfg = strings.Replace(teamConfig, tt.old, tt.new, 1)
			}
			_, err := ParseRepoConfig(ConfigSource{Repo: "acme/team"}, []byte(cfg), pol)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err %v, want Errors", err)
			}
			for _, e := range errs {
				if e.Field == tt.field && e.Line == tt.line && strings.Contains(e.Msg, tt.msg) && e.File == DefaultRepoConfigPath {
					return
				}
			}
			t.Fatalf("want %s:%d %s: %q; got\n%v", DefaultRepoConfigPath, tt.line, tt.field, tt.msg, err)
		})
	}
}

func TestRepoConfigHostile(t *testing.T) {
	for name, data := range map[string]string{
		"oversized": "version: 1\n" + strings.Repeat("#", MaxFileSize),
		"alias":     "version: 1\nenvironments: &e [ {name: dev} ]\nservices: *e\n",
		"deep":      strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"two docs":  "version: 1\n---\nversion: 1\n",
		"binary":    "\x00\x01\x02",
	} {
		if _, err := ParseRepoConfig(ConfigSource{Repo: "acme/x"}, []byte(data), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseRepoConfig(ConfigSource{Repo: "../x"}, []byte(teamConfig), nil); err == nil {
		t.Error("invalid repository accepted")
	}
}

func TestPolicyRejections(t *testing.T) {
	tests := []struct {
		name, old, new, field, msg string
	}{
		{"bad env glob", "'prod*':", "'':", `policy.environments[""]`, "1 to 255"},
		{"bad window", "deny: '0 0 24 12 *'", "deny: 'nope'", `policy.environments["prod*"].windows[0].deny`, "invalid cron"},
		{"bad team", "teams: [acme/release-managers]", "teams: [release managers]", `policy.environments["prod*"].reviewers.teams[0]`, "invalid team"},
		{"bad minimum", "minimum: 1", "minimum: -1", `policy.environments["prod*"].reviewers.minimum`, "0 to 100"},
		{"unknown policy field", "  images:\n", "  imagez:\n", "policy.imagez", "unknown field"},
		{"bad ticket pattern", "ticket: { required: true }", "ticket: { required: true, pattern: '(' }", `policy.environments["prod*"].ticket.pattern`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(serverPolicy, tt.old) {
				t.Fatalf("policy lacks %q", tt.old)
			}
			_, err := Parse("rules.yaml", []byte(strings.Replace(serverPolicy, tt.old, tt.new, 1)))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err %v", err)
			}
			for _, e := range errs {
				if e.Field == tt.field && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Fatalf("want %s %q, got\n%v", tt.field, tt.msg, err)
		})
	}
}

func TestServerServicesFollowThePolicy(t *testing.T) {
	rules := strings.Replace(serverPolicy, "services: []\n", `services:
  - name: web
    repo: acme/gitops
    image: quay.io/acme/web
    targets: { dev: { kustomize: apps/web/dev } }
`, 1)
	_, err := Parse("rules.yaml", []byte(rules))
	if err == nil || !strings.Contains(err.Error(), "service web: image \"quay.io/acme/web\" is not allowed by organisation policy") {
		t.Fatalf("err %v, want the service named", err)
	}
}

func TestRepositoriesAllow(t *testing.T) {
	pol := loadPolicy(t)
	for repo, want := range map[string]bool{"acme/x": true, "ACME/y": true, "evil/acme": false} {
		if got := pol.RepoAllowed(repo); got != want {
			t.Errorf("RepoAllowed(%s) = %v", repo, got)
		}
	}
	var none *Policy
	if !none.RepoAllowed("any/thing") || !none.ImageAllowed("x") {
		t.Error("no policy allows everything")
	}
}

func TestRepoConfigGeneratorsExpand(t *testing.T) {
	cfg := `version: 1
environments: [ { name: dev } ]
generators:
  - directories: apps/*
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/{{.Dir}}'
      targets: { dev: { kustomize: '{{.Path}}/dev' } }
`
	rs, err := ParseRepoConfig(ConfigSource{Repo: "acme/team", Commit: "c1"}, []byte(cfg), loadPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Generators[0].Repo != "acme/team" {
		t.Fatalf("generator repo %q", rs.Generators[0].Repo)
	}
	x, err := rs.ForNames(t.Context(), []string{"billing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := x.Service("billing"); !ok {
		t.Fatal("generated service missing")
	}
	if src, ok := x.ConfigSource(); !ok || src.Commit != "c1" {
		t.Fatalf("expanded copy lost its source: %+v", src)
	}
}

func TestRepoConfigExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("../../config/examples/repo-promobot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "# yaml-language-server: $schema=../repo-config.schema.json\n") {
		t.Error("the example lacks its schema modeline")
	}
	if _, err := ParseRepoConfig(ConfigSource{Repo: "acme/payments-gitops"}, data, loadPolicy(t)); err != nil {
		t.Fatalf("example: %v", err)
	}
}
