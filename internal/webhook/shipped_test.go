package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// shippedRules is the project's own example configuration: explicit
// services beside a generator over apps/* in the same GitOps repository.
// edits, each an old and a new text, are applied to the file first.
func shippedRules(t testing.TB, edits ...string) *rules.Rules {
	t.Helper()
	const p = "../../config/promotion-rules.yaml"
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		b = edit(t, b, edits[i], edits[i+1])
	}
	rs, err := rules.Parse(p, b)
	if err != nil {
		t.Fatalf("shipped rules: %v", err)
	}
	return rs
}

// replaceAll renames every occurrence of old in a real payload, so its URLs
// and names stay consistent with each other.
func replaceAll(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("replaceAll: %q does not occur", old)
	}
	return bytes.ReplaceAll(b, []byte(old), []byte(new))
}

// TestShippedRulesPublishExplicitServices: with the shipped rules (a
// generator over apps/* beside the explicit services web and
// payment-service), a command naming an explicit service and a build of an
// explicit service's source are published, not dropped because the
// generator's name guess collides with the explicit service.
func TestShippedRulesPublishExplicitServices(t *testing.T) {
	rs := shippedRules(t)
	// The same file where web is built by acme/web: the build's name guess
	// (apps/web) is the explicit service's name.
	webBuilt := shippedRules(t, "    image: registry.example.com/web\n",
		"    image: registry.example.com/web\n    source: {repo: acme/web, workflow: .github/workflows/build.yml, branch: main}\n")
	comment := replaceAll(t, payload(t, "issue_comment/created-on-pr-slash-build.go-playground.json"), "chhsia0/knative-route-demo", "acme/gitops")
	comment = edit(t, comment, `"body": "/build"`, `"body": "/promote prod web --ticket PAY-1"`)
	wr := replaceAll(t, payload(t, "workflow_run/completed.octokit.json"), "octo-org/octo-repo", "acme/payment-service")
	wr = replaceAll(t, wr, ".github/workflows/test.yml", ".github/workflows/build.yml")
	wr = edit(t, wr, `"head_branch": "master"`, `"head_branch": "main"`)
	wr = edit(t, wr, `"action": "completed",`, `"action": "completed", "installation": {"id": 77},`)
	// GitHub reports a repository's name as its owner spells it; the rules
	// compare repositories case-insensitively.
	wrUpper := replaceAll(t, wr, "acme/payment-service", "acme/Payment-Service")
	both := edit(t, comment, `"body": "/promote prod web --ticket PAY-1"`, `"body": "/promote staging web cart"`)
	webBuild := replaceAll(t, wr, "acme/payment-service", "acme/web")
	cases := []struct {
		name, event string
		body        []byte
		want        intent.Intent // the fields compared
		rules       *rules.Rules  // nil: the shipped rules
	}{
		{"command names an explicit service", "issue_comment", comment,
			intent.Intent{Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"web"}, To: "prod", Ticket: "PAY-1"}, nil},
		{"command names an explicit and a generated service", "issue_comment", both,
			intent.Intent{Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"web", "cart"}, To: "staging"}, nil},
		{"build of an explicit service's source", "workflow_run", wr,
			intent.Intent{Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "dev", Tag: "sha-3484a3f", InstallationID: 77}, nil},
		{"build of an explicit service's source, name in capitals", "workflow_run", wrUpper,
			intent.Intent{Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "dev", Tag: "sha-3484a3f", InstallationID: 77}, nil},
		{"build of an explicit service named like its source", "workflow_run", webBuild,
			intent.Intent{Kind: intent.KindUpdate, Repo: "acme/gitops", Services: []string{"web"}, To: "dev", Tag: "sha-3484a3f", InstallationID: 77}, webBuilt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			use := rs
			if tc.rules != nil {
				use = tc.rules
			}
			f := newFixture(t, func(c *Config) { c.Rules = func() *rules.Rules { return use } })
			w := f.do(delivery{event: tc.event, id: deliveryID, body: tc.body})
			if w.Code != 202 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			msgs := f.pub.messages()
			if len(msgs) != 1 {
				t.Fatalf("published %d intents, want 1; log %s", len(msgs), f.log.String())
			}
			in, err := intent.Unmarshal(msgs[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			got := intent.Intent{Kind: in.Kind, Repo: in.Repo, Services: in.Services, To: in.To, Tag: in.Tag, Ticket: in.Ticket, InstallationID: in.InstallationID}
			if string(mustJSON(t, got)) != string(mustJSON(t, tc.want)) {
				t.Errorf("intent %s\nwant %s", mustJSON(t, got), mustJSON(t, tc.want))
			}
			if f.count(tc.event, OutcomeAccepted) != 1 {
				t.Errorf("not counted as accepted; log %s", f.log.String())
			}
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShippedRulesPushTouchingAnExplicitServiceDirectory: a push to the
// GitOps repository that changes web's dev values and also a file under
// apps/web (which the generator's apps/* would make a service "web" of)
// still promotes web, and the generated service cart beside it.
func TestShippedRulesPushTouchingAnExplicitServiceDirectory(t *testing.T) {
	rs := shippedRules(t)
	b := replaceAll(t, payload(t, "push/branch-push-forced.argo-cd.json"), "jessesuen/test-repo", "acme/gitops")
	b = replaceAll(t, b, "ksapps/test-app/app.yaml", "charts/web/values-dev.yaml")
	b = replaceAll(t, b, "ksapps/test-app/environments/staging-argocd-demo/main.jsonnet", "apps/web/README.md")
	b = replaceAll(t, b, "ksapps/test-app/environments/staging-argocd-demo/params.libsonnet", "apps/cart/overlays/dev/kustomization.yaml")
	b = edit(t, b, `"ref": "refs/heads/master"`, `"ref": "refs/heads/main"`)
	f := newFixture(t, func(c *Config) { c.Rules = func() *rules.Rules { return rs } })
	if w := f.do(delivery{event: "push", id: deliveryID, body: b}); w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got []string
	for _, m := range f.pub.messages() {
		in, err := intent.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in.Services[0]+" "+in.From+"→"+in.To)
	}
	if want := []string{"cart dev→staging", "web dev→staging"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v; log %s", got, want, f.log.String())
	}
}
