package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

var update = flag.Bool("update", false, "rewrite golden files")

// classifyCase is one delivery and the intents it must produce, recorded
// in testdata/golden/classify/<name>.json.
type classifyCase struct {
	name  string
	event string
	body  func(t testing.TB) []byte
}

func file(name string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return payload(t, name) }
}

func classifyCases() []classifyCase {
	wr := "workflow_run/completed.octokit.json"
	return []classifyCase{
		// workflow_run: octo-app (master only) and octo-branch (any branch) build from test.yml.
		{"workflow-run-completed", "workflow_run", file(wr)},
		{"workflow-run-completed-with-prs", "workflow_run", file("workflow_run/completed.octokit-with-pull-requests.json")},
		{"workflow-run-ticket-in-title-with-installation", "workflow_run", func(t testing.TB) []byte {
			b := edit(t, payload(t, wr), `"display_title": "ci(action): update actions/setup-node digest to 8c91899"`,
				`"display_title": "Bump node (PAY-42)"`)
			return edit(t, b, `"action": "completed",`, `"action": "completed", "installation": {"id": 4242},`)
		}},
		{"workflow-run-other-branch", "workflow_run", func(t testing.TB) []byte {
			return edit(t, payload(t, wr), `"head_branch": "master"`, `"head_branch": "release-1"`)
		}},
		{"workflow-run-failed", "workflow_run", func(t testing.TB) []byte {
			return edit(t, payload(t, wr), `"conclusion": "success"`, `"conclusion": "failure"`)
		}},
		{"workflow-run-other-workflow", "workflow_run", func(t testing.TB) []byte {
			b := edit(t, payload(t, wr), `    "path": ".github/workflows/test.yml",
    "state"`, `    "path": ".github/workflows/lint.yml",
    "state"`)
			return edit(t, b, `    "path": ".github/workflows/test.yml",
    "display_title"`, `    "path": ".github/workflows/lint.yml",
    "display_title"`)
		}},
		{"workflow-run-path-only-in-run", "workflow_run", func(t testing.TB) []byte {
			// No workflow object: the path comes from workflow_run.path.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(payload(t, wr), &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "workflow")
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"workflow-run-requested", "workflow_run", file("workflow_run/requested.octokit.json")},
		{"workflow-run-in-progress", "workflow_run", file("workflow_run/in_progress.drone.json")},
		// push of a tag
		{"push-tag-semver", "push", file("push/tag-create.drone.json")},
		{"push-tag-ghes-with-installation", "push", file("push/tag-create.octokit-ghes-35.json")},
		{"push-tag-not-a-source-repo", "push", file("push/tag-create.argo-cd.json")},
		{"push-tag-not-matching-pattern", "push", func(t testing.TB) []byte {
			return edit(t, payload(t, "push/tag-create.drone.json"), `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/nightly"`)
		}},
		{"push-tag-deleted", "push", file("push/tag-delete.octokit-with-installation.json")},
		{"push-tag-annotated", "push", func(t testing.TB) []byte { return annotatedTagPush(t) }},
		// push of a branch
		{"push-branch-gitops-forced", "push", file("push/branch-push-forced.argo-cd.json")},
		{"push-branch-gitops-with-installation", "push", file("push/branch-create.octokit-with-installation.json")},
		{"push-branch-gitops-ticket-in-commit", "push", func(t testing.TB) []byte {
			return edit(t, payload(t, "push/branch-create.octokit-with-installation.json"),
				`"distinct": true,
      "message": "Initial commit",`, `"distinct": true,
      "message": "Bump hello for OPS-7",`)
		}},
		{"push-branch-gitops-not-base-branch", "push", func(t testing.TB) []byte {
			return edit(t, payload(t, "push/branch-push-forced.argo-cd.json"), `"ref": "refs/heads/master"`, `"ref": "refs/heads/feature"`)
		}},
		{"push-branch-not-gitops", "push", file("push/branch-push.go-playground.json")},
		{"push-branch-deleted", "push", file("push/branch-delete.drone.json")},
		// no intents, by design
		{"ping", "ping", file("ping/repo-hook.octokit.json")},
		{"ping-app", "ping", file("ping/app-hook.octokit-with-app_id.json")},
		{"installation", "installation", file("installation/created.octokit.json")},
		{"installation-repositories", "installation_repositories", file("installation_repositories/added.octokit.json")},
		{"issue-comment", "issue_comment", file("issue_comment/created-on-pr-slash-build.go-playground.json")},
		{"issue-comment-with-installation", "issue_comment", file("issue_comment/created-on-issue-slash-command-with-installation.create-issue-branch.json")},
		{"pull-request-merged", "pull_request", file("pull_request/closed-merged-with-installation.create-issue-branch.json")},
		{"pull-request-opened", "pull_request", file("pull_request/opened.octokit.json")},
		{"pull-request-synchronize", "pull_request", file("pull_request/synchronize.octokit.json")},
		{"pull-request-reopened", "pull_request", file("pull_request/reopened.octokit.json")},
		{"pull-request-edited", "pull_request", func(t testing.TB) []byte {
			return edit(t, payload(t, "pull_request/opened.octokit.json"), `"action": "opened"`, `"action": "edited"`)
		}},
		{"pull-request-into-another-branch", "pull_request", func(t testing.TB) []byte {
			return edit(t, payload(t, "pull_request/synchronize.octokit.json"), `"ref": "master"`, `"ref": "release"`)
		}},
		{"check-suite", "check_suite", file("check_suite/completed.octokit.json")},
	}
}

func TestClassifyGolden(t *testing.T) {
	rs := loadRules(t)
	for _, tc := range classifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := Delivery{Event: tc.event, ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Payload: tc.body(t), Received: fixedNow}
			got, err := Classify(rs, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range got {
				if err := in.Validate(); err != nil {
					t.Errorf("intent does not validate: %v", err)
				}
			}
			// Deterministic: the same delivery classifies the same way.
			again, err := Classify(rs, d)
			if err != nil {
				t.Fatal(err)
			}
			b := marshalIntents(t, got)
			if !bytes.Equal(b, marshalIntents(t, again)) {
				t.Error("classification is not deterministic")
			}
			golden := filepath.Join("testdata/golden/classify", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("intents differ from %s:\n got: %s\nwant: %s", golden, b, want)
			}
		})
	}
}

func marshalIntents(t testing.TB, ins []intent.Intent) []byte {
	t.Helper()
	if ins == nil {
		ins = []intent.Intent{}
	}
	b, err := json.MarshalIndent(ins, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// The summary of the golden files, asserted directly so that a golden
// file regenerated by mistake cannot hide a lost feature.
func TestClassifyKeyFields(t *testing.T) {
	rs := loadRules(t)
	type want struct {
		kind                     intent.Kind
		repo, svc, from, to, tag string
		ticket                   string
		installation             int64
	}
	cases := map[string][]want{
		"workflow-run-completed": {
			{intent.KindUpdate, "jessesuen/test-repo", "octo-app", "", "dev", "sha-3484a3f", "", 0},
			{intent.KindUpdate, "jessesuen/test-repo", "octo-branch", "", "dev", "master-163", "", 0},
		},
		"workflow-run-completed-with-prs": {
			{intent.KindUpdate, "jessesuen/test-repo", "octo-app", "", "dev", "sha-3484a3f", "", 0},
			{intent.KindUpdate, "jessesuen/test-repo", "octo-branch", "", "dev", "master-163", "", 0},
		},
		"workflow-run-ticket-in-title-with-installation": {
			{intent.KindUpdate, "jessesuen/test-repo", "octo-app", "", "dev", "sha-3484a3f", "PAY-42", 0}, // octo-org builds, jessesuen owns the GitOps repo: another installation, looked up by the worker
			{intent.KindUpdate, "jessesuen/test-repo", "octo-branch", "", "dev", "master-163", "PAY-42", 0},
		},
		"workflow-run-other-branch": {
			{intent.KindUpdate, "jessesuen/test-repo", "octo-branch", "", "dev", "release-1-163", "", 0},
		},
		"workflow-run-path-only-in-run": {
			{intent.KindUpdate, "jessesuen/test-repo", "octo-app", "", "dev", "sha-3484a3f", "", 0},
			{intent.KindUpdate, "jessesuen/test-repo", "octo-branch", "", "dev", "master-163", "", 0},
		},
		"push-tag-semver":                      {{intent.KindUpdate, "acme/gitops", "drone-app", "", "dev", "v0.0.1", "", 0}},
		"push-tag-annotated":                   {{intent.KindUpdate, "acme/gitops", "drone-app", "", "dev", "v0.0.1", "", 0}},
		"push-tag-ghes-with-installation":      {{intent.KindUpdate, "Codertocat/Hello-World", "hello", "", "dev", "simple-tag", "", 5}},
		"push-branch-gitops-forced":            {{intent.KindPromote, "jessesuen/test-repo", "octo-app", "dev", "staging", "", "", 0}},
		"push-branch-gitops-with-installation": {{intent.KindPromote, "Codertocat/Hello-World", "hello", "dev", "staging", "", "", 1}},
		"push-branch-gitops-ticket-in-commit":  {{intent.KindPromote, "Codertocat/Hello-World", "hello", "dev", "staging", "", "OPS-7", 1}},
		// A PR into the GitOps repository's base branch asks for its policy check and
		// (unless edited only) its promobot/config check.
		"pull-request-opened":      {{intent.KindPolicy, "Codertocat/Hello-World", "", "", "", "", "", 1}, {intent.KindConfigCheck, "Codertocat/Hello-World", "", "", "", "", "", 1}},
		"pull-request-synchronize": {{intent.KindPolicy, "Codertocat/Hello-World", "", "", "", "", "", 1}, {intent.KindConfigCheck, "Codertocat/Hello-World", "", "", "", "", "", 1}},
		"pull-request-reopened":    {{intent.KindPolicy, "Codertocat/Hello-World", "", "", "", "", "", 1}, {intent.KindConfigCheck, "Codertocat/Hello-World", "", "", "", "", "", 1}},
		"pull-request-edited":      {{intent.KindPolicy, "Codertocat/Hello-World", "", "", "", "", "", 1}},
	}
	for _, tc := range classifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			const id = "abc-1"
			got, err := Classify(rs, Delivery{Event: tc.event, ID: id, Payload: tc.body(t), Received: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			exp := cases[tc.name]
			if len(got) != len(exp) {
				t.Fatalf("got %d intents, want %d", len(got), len(exp))
			}
			for i, w := range exp {
				in := got[i]
				g := want{in.Kind, in.Repo, strings.Join(in.Services, ","), in.From, in.To, in.Tag, in.Ticket, in.InstallationID}
				if g != w {
					t.Errorf("intent %d = %+v, want %+v", i, g, w)
				}
				if in.ID != intent.MsgID(id, i) || in.DeliveryID != id || in.Event != tc.event || !in.CreatedAt.Equal(fixedNow) {
					t.Errorf("intent %d: id %q delivery %q event %q created %v", i, in.ID, in.DeliveryID, in.Event, in.CreatedAt)
				}
			}
		})
	}
}

func TestClassifySourceLinks(t *testing.T) {
	rs := loadRules(t)
	got, err := Classify(rs, Delivery{Event: "workflow_run", ID: "d1", Payload: payload(t, "workflow_run/completed.octokit.json")})
	if err != nil || len(got) == 0 {
		t.Fatalf("%v %v", got, err)
	}
	want := intent.SourceRef{
		Repo:      "octo-org/octo-repo",
		SHA:       "3484a3fb816e0859fd6e1cea078d76385ff50625",
		Ref:       "master",
		Message:   "build(test): check workflow run event payload",
		CommitURL: "https://github.com/octo-org/octo-repo/commit/3484a3fb816e0859fd6e1cea078d76385ff50625",
		RunURL:    "https://github.com/octo-org/octo-repo/actions/runs/289782451",
		RunNumber: 163,
		HTMLBase:  "https://github.com",
	}
	if got[0].Source != want {
		t.Errorf("source = %+v\nwant %+v", got[0].Source, want)
	}

	got, err = Classify(rs, Delivery{Event: "push", ID: "d2", Payload: payload(t, "push/branch-push-forced.argo-cd.json")})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	src := got[0].Source
	if src.CloneURL != "https://github.com/jessesuen/test-repo.git" ||
		src.CompareURL != "https://github.com/jessesuen/test-repo/compare/d5c1ffa8e294...63738bb582c8" ||
		src.SHA != "63738bb582c8b540af7bcfc18f87c575c3ed66e0" || src.Ref != "master" {
		t.Errorf("push source = %+v", src)
	}
}

func TestClassifyInvalid(t *testing.T) {
	rs := loadRules(t)
	wr := payload(t, "workflow_run/completed.octokit.json")
	cases := []struct {
		name, event string
		body        []byte
		want        error
	}{
		{"rendered tag is not an OCI tag", "workflow_run", edit(t, wr, `"head_branch": "master"`, `"head_branch": "feature/x"`), ErrInvalid},
		{"branch with ..", "workflow_run", edit(t, wr, `"head_branch": "master"`, `"head_branch": "a..b"`), ErrInvalid},
		{"short head sha", "workflow_run", edit(t, wr, `"head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625"`, `"head_sha": "3484a3f"`), ErrInvalid},
		{"tag push with a space", "push", edit(t, payload(t, "push/tag-create.drone.json"), `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1 x"`), ErrInvalid},
		{"tag push with a colon", "push", edit(t, payload(t, "push/tag-create.drone.json"), `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0:1"`), ErrInvalid},
		{"not json", "push", []byte("{"), ErrMalformed},
		{"wrong field type", "push", []byte(`{"ref": 7}`), ErrMalformed},
		{"array at top", "push", []byte(`[]`), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Classify(rs, Delivery{Event: tc.event, ID: "d", Payload: tc.body})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Errorf("intents returned with an error: %v", got)
			}
		})
	}
}
