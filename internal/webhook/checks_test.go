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

const checksRules = `version: 1
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
    autoMerge: true
    health: { checks: ['continuous-delivery/{{.Service}}-{{.Env}}'] }
  - name: prod
    auto: true
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev: { kustomize: apps/web/dev }
      staging: { kustomize: apps/web/staging }
      prod: { kustomize: apps/web/prod }
  - name: hello
    repo: Codertocat/Hello-World
    image: registry.example.com/hello
    targets: { dev: { kustomize: apps/hello/dev }, staging: { kustomize: apps/hello/staging } }
  - name: public
    repo: baxterthehacker/public-repo
    image: registry.example.com/public
    targets: { dev: { kustomize: apps/public/dev }, staging: { kustomize: apps/public/staging } }
`

const statusSHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

// statusPayload is a status delivery in the shape GitHub documents for
// the status event (no captured delivery is in testdata).
func statusPayload(state, context, url string, branches ...string) []byte {
	var bs []map[string]any
	for _, b := range branches {
		bs = append(bs, map[string]any{"name": b, "commit": map[string]any{"sha": statusSHA}, "protected": false})
	}
	b, _ := json.Marshal(map[string]any{
		"id": 1, "sha": statusSHA, "name": "acme/gitops", "target_url": url, "context": context, "description": "",
		"state": state, "branches": bs, "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z",
		"repository":   map[string]any{"full_name": "acme/gitops", "html_url": "https://github.com/acme/gitops", "clone_url": "https://github.com/acme/gitops.git"},
		"installation": map[string]any{"id": 7},
		"sender":       map[string]any{"login": "argocd[bot]"},
	})
	return b
}

// checkRunPayload is a check_run delivery in the shape GitHub documents.
func checkRunPayload(action, name, conclusion, branch string, prs ...int) []byte {
	var ps []map[string]any
	for _, n := range prs {
		ps = append(ps, map[string]any{"number": n})
	}
	b, _ := json.Marshal(map[string]any{
		"action": action,
		"check_run": map[string]any{"name": name, "head_sha": statusSHA, "status": "completed", "conclusion": conclusion,
			"html_url": "https://github.com/acme/gitops/runs/4", "pull_requests": ps, "check_suite": map[string]any{"head_branch": branch}},
		"repository":   map[string]any{"full_name": "acme/gitops", "html_url": "https://github.com/acme/gitops"},
		"installation": map[string]any{"id": 7},
	})
	return b
}

func TestClassifyChecks(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(checksRules))
	if err != nil {
		t.Fatal(err)
	}
	cd := "continuous-delivery/web-staging"
	// GitHub's examples, from a promotion branch of promobot's.
	suite := edit(t, payload(t, "check_suite/completed.octokit.json"), `"ref": "changes"`, `"ref": "promobot/staging/hello"`)
	review := edit(t, payload(t, "pull_request_review/submitted-approved.go-playground.json"), `"ref": "patch-2"`, `"ref": "promobot/staging/public"`)
	type want struct {
		kind     intent.Kind
		from, to string
		issue    int
		ref      string
		check    string // "name state url" of a told failure; "" none
	}
	tests := []struct {
		name  string
		event string
		body  []byte
		want  []want
		note  string
	}{
		{"health success on the base branch re-evaluates the promotion out of staging", "status",
			statusPayload("success", cd, "https://argocd.example.com/app", "main"),
			[]want{{kind: intent.KindPromote, from: "staging", to: "prod"}, {kind: intent.KindPolicy, from: "staging"},
				{kind: intent.KindHealth, check: cd + " success https://argocd.example.com/app"}}, ""},
		{"health failure on the base branch: the promotion is re-evaluated (and refused)", "status",
			statusPayload("failure", cd, "https://argocd.example.com/app", "main"),
			[]want{{kind: intent.KindPromote, from: "staging", to: "prod"}, {kind: intent.KindPolicy, from: "staging"},
				{kind: intent.KindHealth, check: cd + " failure https://argocd.example.com/app"}}, ""},
		{"pending: nothing moves; the page records it", "status", statusPayload("pending", cd, "", "main"),
			[]want{{kind: intent.KindHealth, check: cd + " pending "}}, ""},
		{"a CI status on a promotion branch: look at its PR again", "status",
			statusPayload("success", "ci/test", "", "promobot/staging/web"),
			[]want{{kind: intent.KindMerge, ref: "promobot/staging/web"}}, ""},
		{"a failing CI status on a promotion branch names the check", "status",
			statusPayload("failure", "ci/test", "https://ci.example.com/1", "promobot/staging/web"),
			[]want{{kind: intent.KindMerge, ref: "promobot/staging/web", check: "ci/test failure https://ci.example.com/1"}}, ""},
		{"a hostile link is dropped, the check kept", "status",
			statusPayload("error", "ci/test", "javascript:alert(1)", "promobot/staging/web"),
			[]want{{kind: intent.KindMerge, ref: "promobot/staging/web", check: "ci/test error "}}, ""},
		{"a check name with a newline is ignored", "status",
			statusPayload("failure", "ci\ntest", "", "promobot/staging/web"), nil, "usable name"},
		{"an unrelated status on the base branch", "status", statusPayload("success", "ci/test", "", "main"), nil, "no health check"},
		{"a check run on a PR", "check_run", checkRunPayload("completed", "test", "success", "promobot/staging/web", 5),
			[]want{{kind: intent.KindMerge, issue: 5}}, ""},
		{"a failed check run on a PR", "check_run", checkRunPayload("completed", "test", "timed_out", "promobot/staging/web", 5),
			[]want{{kind: intent.KindMerge, issue: 5, check: "test failure https://github.com/acme/gitops/runs/4"}}, ""},
		{"a health check run on the base branch", "check_run", checkRunPayload("completed", cd, "success", "main"),
			[]want{{kind: intent.KindPromote, from: "staging", to: "prod"}, {kind: intent.KindPolicy, from: "staging"},
				{kind: intent.KindHealth, check: cd + " success https://github.com/acme/gitops/runs/4"}}, ""},
		{"a check run still running", "check_run", checkRunPayload("created", "test", "", "x", 5), nil, "not completed"},
		{"a completed check suite of a PR (GitHub's example)", "check_suite", suite, []want{{kind: intent.KindMerge, issue: 2}}, ""},
		{"a failed check suite names its app", "check_suite",
			edit(t, suite, `"conclusion": "success"`, `"conclusion": "failure"`), []want{{kind: intent.KindMerge, issue: 2, check: "octocoders-linter failure "}}, ""},
		{"an approving review (a captured delivery)", "pull_request_review", review, []want{{kind: intent.KindMerge, issue: 8}}, ""},
		{"CI on a branch that is not promobot's asks nothing", "status",
			statusPayload("success", "ci/test", "", "feature/x", "promobot/prod/web"), nil, "no health check"},
		{"a check suite of a PR that is not promobot's asks nothing", "check_suite", payload(t, "check_suite/completed.octokit.json"), nil, "no health check"},
		{"a review of a PR that is not promobot's asks nothing", "pull_request_review", payload(t, "pull_request_review/submitted-approved.go-playground.json"), nil, ""},
		{"GitHub's status example: CI on branches that are not promobot's", "status", payload(t, "status/status.octokit.json"), nil, "no health check"},
		{"GitHub's status example on a promotion branch", "status",
			edit(t, payload(t, "status/status.octokit.json"), `"name": "changes"`, `"name": "promobot/staging/hello"`),
			[]want{{kind: intent.KindMerge, ref: "promobot/staging/hello"}}, ""},
		{"GitHub's failed check run example on a promotion PR", "check_run",
			[]byte(strings.ReplaceAll(string(payload(t, "check_run/completed.octokit.json")), `"ref": "changes"`, `"ref": "promobot/staging/hello"`)),
			[]want{{kind: intent.KindMerge, issue: 2, check: "Octocoders-linter failure https://github.com/Codertocat/Hello-World/runs/128620228"}}, ""},
		{"a comment review", "pull_request_review", edit(t, review, `"state": "approved"`, `"state": "commented"`), nil, "not an approval"},
		{"a repository promobot does not promote into", "check_suite",
			edit(t, suite, `"full_name": "Codertocat/Hello-World"`, `"full_name": "Codertocat/Other"`), nil, "not a gitops repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := classify(&ruleSets{server: rs}, Delivery{Event: tt.event, ID: "d", Payload: tt.body, Received: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.intents) != len(tt.want) {
				t.Fatalf("%d intents (note %q), want %d", len(c.intents), c.note, len(tt.want))
			}
			if tt.note != "" && !strings.Contains(c.note, tt.note) {
				t.Errorf("note %q, want %q", c.note, tt.note)
			}
			for i, w := range tt.want {
				in := c.intents[i]
				got := want{kind: in.Kind, from: in.From, to: in.To, issue: in.Source.Issue}
				if in.Kind == intent.KindMerge {
					got.ref = in.Source.Ref
				}
				if in.Check != nil {
					got.check = fmt.Sprintf("%s %s %s", in.Check.Name, in.Check.State, in.Check.URL)
				}
				if got != w {
					t.Errorf("intent %d = %+v, want %+v", i, got, w)
				}
				if err := in.Validate(); err != nil {
					t.Errorf("intent %d invalid: %v", i, err)
				}
			}
		})
	}
}

func TestClassifyChecksMalformed(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(checksRules))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		event string
		body  []byte
		want  error
	}{
		"status not JSON":         {"status", []byte(`{"sha":`), ErrMalformed},
		"status sha a number":     {"status", []byte(`{"sha": 1}`), ErrMalformed},
		"status duplicate key":    {"status", []byte(`{"state":"success","state":"failure"}`), ErrMalformed},
		"status bad sha":          {"status", []byte(strings.Replace(string(statusPayload("success", "ci", "", "main")), statusSHA, "HEAD", -1)), ErrInvalid},
		"check_run branches list": {"check_run", []byte(`{"check_run": []}`), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := classify(&ruleSets{server: rs}, Delivery{Event: tc.event, ID: "d", Payload: tc.body})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
