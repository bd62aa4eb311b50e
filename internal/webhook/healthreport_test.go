package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// healthRules: prod's health names a check per service; a second
// repository's services come from a generator.
const healthRules = `version: 1
environments:
  - {name: dev, auto: true, direct: true}
  - name: prod
    health: { checks: ['continuous-delivery/{{.Service}}-{{.Env}}'] }
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets: { dev: { kustomize: apps/web/dev }, prod: { kustomize: apps/web/prod } }
generators:
  - repo: acme/generated
    directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      targets: {dev: {kustomize: '{{.Path}}/dev'}, prod: {kustomize: '{{.Path}}/prod'}}
`

// ownRules is the configuration acme/own keeps in its own repository.
const ownRules = `version: 1
defaults: { baseBranch: trunk }
environments:
  - {name: dev, auto: true, direct: true}
  - name: prod
    health: { checks: ['argocd/{{.Service}}'] }
services:
  - name: api
    repo: acme/own
    image: registry.example.com/api
    targets: { dev: { kustomize: apps/api/dev }, prod: { kustomize: apps/api/prod } }
`

var received = time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC)

func healthStatus(repo, state, name, url, updated string, branches ...string) []byte {
	bs := []map[string]any{}
	for _, b := range branches {
		bs = append(bs, map[string]any{"name": b, "commit": map[string]any{"sha": statusSHA}, "protected": false})
	}
	b, _ := json.Marshal(map[string]any{
		"id": 1, "sha": statusSHA, "name": repo, "target_url": url, "context": name, "description": nil,
		"state": state, "branches": bs, "created_at": updated, "updated_at": updated,
		"repository":   map[string]any{"full_name": repo, "html_url": "https://github.com/" + repo, "clone_url": "https://github.com/" + repo + ".git"},
		"installation": map[string]any{"id": 7},
	})
	return b
}

func healthCheckRun(action, status, conclusion, name, started, completed, branch string, prs ...int) []byte {
	ps := []map[string]any{}
	for _, n := range prs {
		ps = append(ps, map[string]any{"number": n, "head": map[string]any{"ref": branch}})
	}
	var done any
	if completed != "" {
		done = completed
	}
	b, _ := json.Marshal(map[string]any{
		"action": action,
		"check_run": map[string]any{"name": name, "head_sha": statusSHA, "status": status, "conclusion": conclusion,
			"started_at": started, "completed_at": done,
			"html_url": "https://github.com/acme/gitops/runs/4", "pull_requests": ps, "check_suite": map[string]any{"head_branch": branch}},
		"repository":   map[string]any{"full_name": "acme/gitops", "html_url": "https://github.com/acme/gitops"},
		"installation": map[string]any{"id": 7},
	})
	return b
}

func TestClassifyHealthReports(t *testing.T) {
	server, err := rules.Parse("rules.yaml", []byte(healthRules))
	if err != nil {
		t.Fatal(err)
	}
	own, err := rules.Parse("promobot.yaml", []byte(ownRules))
	if err != nil {
		t.Fatal(err)
	}
	sets := &ruleSets{server: server, repos: []RepoConfig{{Repo: "acme/own", Rules: own}, {Repo: "acme/broken", Invalid: true}}}
	cd := "continuous-delivery/web-prod"
	const t0 = "2026-11-25T10:00:00Z"
	hostile := "https://argocd.example.com/" + strings.Repeat("a", 2100)
	tests := []struct {
		name  string
		event string
		body  []byte
		want  string // "repo name state url at" of the one health intent; "" none
	}{
		{"success on the base branch", "status", healthStatus("acme/gitops", "success", cd, "https://argocd.example.com/web", t0, "main"),
			"acme/gitops " + cd + " success https://argocd.example.com/web " + t0},
		{"failure", "status", healthStatus("acme/gitops", "failure", cd, "", t0, "main"), "acme/gitops " + cd + " failure  " + t0},
		{"error", "status", healthStatus("acme/gitops", "error", cd, "", t0, "main"), "acme/gitops " + cd + " error  " + t0},
		{"pending", "status", healthStatus("acme/gitops", "pending", cd, "", t0, "main"), "acme/gitops " + cd + " pending  " + t0},
		{"a commit on no branch", "status", healthStatus("acme/gitops", "success", cd, "", t0), "acme/gitops " + cd + " success  " + t0},
		{"the base branch among others", "status", healthStatus("acme/gitops", "success", cd, "", t0, "feature", "main"),
			"acme/gitops " + cd + " success  " + t0},
		{"a pull request's branch: not what runs", "status", healthStatus("acme/gitops", "success", cd, "", t0, "feature"), ""},
		{"a check that is no health check", "status", healthStatus("acme/gitops", "success", "ci/test", "", t0, "main"), ""},
		{"another service's name in another environment", "status", healthStatus("acme/gitops", "success", "continuous-delivery/web-dev", "", t0, "main"), ""},
		{"a repository promobot does not know", "status", healthStatus("acme/other", "success", cd, "", t0, "main"), ""},
		{"a hostile link is dropped, the report kept", "status", healthStatus("acme/gitops", "failure", cd, "javascript:alert(1)", t0, "main"),
			"acme/gitops " + cd + " failure  " + t0},
		{"an oversized link is dropped", "status", healthStatus("acme/gitops", "failure", cd, hostile, t0, "main"),
			"acme/gitops " + cd + " failure  " + t0},
		{"a name with a newline names nothing", "status", healthStatus("acme/gitops", "success", cd+"\n", "", t0, "main"), ""},
		{"an oversized name names nothing", "status", healthStatus("acme/gitops", "success", strings.Repeat("c", 300), "", t0, "main"), ""},
		{"no time: the delivery's", "status", healthStatus("acme/gitops", "success", cd, "", "", "main"),
			"acme/gitops " + cd + " success  2026-11-25T10:05:00Z"},
		{"an unreadable time: the delivery's", "status", healthStatus("acme/gitops", "success", cd, "", "yesterday", "main"),
			"acme/gitops " + cd + " success  2026-11-25T10:05:00Z"},
		{"a time far ahead would hide every later report: the delivery's", "status", healthStatus("acme/gitops", "success", cd, "", "2099-01-01T00:00:00Z", "main"),
			"acme/gitops " + cd + " success  2026-11-25T10:05:00Z"},
		{"a check run in progress is pending as of its start", "check_run",
			healthCheckRun("created", "in_progress", "", cd, "2026-11-25T09:58:00Z", "", "main"),
			"acme/gitops " + cd + " pending https://github.com/acme/gitops/runs/4 2026-11-25T09:58:00Z"},
		{"a completed check run as of its end", "check_run",
			healthCheckRun("completed", "completed", "success", cd, "2026-11-25T09:58:00Z", "2026-11-25T09:59:00Z", "main"),
			"acme/gitops " + cd + " success https://github.com/acme/gitops/runs/4 2026-11-25T09:59:00Z"},
		{"a timed out check run failed", "check_run",
			healthCheckRun("completed", "completed", "timed_out", cd, "2026-11-25T09:58:00Z", "2026-11-25T09:59:00Z", "main"),
			"acme/gitops " + cd + " failure https://github.com/acme/gitops/runs/4 2026-11-25T09:59:00Z"},
		{"a check run of a pull request", "check_run",
			healthCheckRun("completed", "completed", "success", cd, t0, t0, "feature", 5), ""},
		{"a repository's own configuration names its checks and base branch", "status",
			healthStatus("acme/own", "success", "argocd/api", "", t0, "trunk"), "acme/own argocd/api success  " + t0},
		{"not on its own base branch", "status", healthStatus("acme/own", "success", "argocd/api", "", t0, "main"), ""},
		{"not a check its configuration names", "status", healthStatus("acme/own", "success", cd, "", t0, "trunk"), ""},
		{"an invalid own configuration records nothing", "status", healthStatus("acme/broken", "success", cd, "", t0, "main"), ""},
		{"a generated repository's base branch reports are recorded", "status",
			healthStatus("acme/generated", "success", "anything", "", t0, "main"), "acme/generated anything success  " + t0},
		{"a generated repository: a name with a control character is refused", "status",
			healthStatus("acme/generated", "success", "any\x00thing", "", t0, "main"), ""},
		{"a generated repository: a pull request's branch", "status",
			healthStatus("acme/generated", "success", "anything", "", t0, "feature"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := classify(sets, Delivery{Event: tt.event, ID: "d", Payload: tt.body, Received: received})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, in := range c.intents {
				if in.Kind != intent.KindHealth {
					continue
				}
				got = append(got, strings.Join([]string{in.Repo, in.Check.Name, in.Check.State, in.Check.URL, in.Check.At.Format(time.RFC3339)}, " "))
				if in.Source.SHA != statusSHA || in.InstallationID != 7 || in.ID != intent.MsgID("d", len(c.intents)-1) {
					t.Errorf("health intent %+v: want the commit, the installation and the last message id", in)
				}
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("health intents %q, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("health intents %q, want %q", got, tt.want)
			}
		})
	}
}
