package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// groupRules has n services, each with dev → staging (auto) → prod, and
// prod split into two regional targets, under the given defaults.
func groupRules(t *testing.T, n int, defaults string) *rules.Rules {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n" + defaults + "environments:\n" +
		"  - { name: dev, auto: true, direct: true }\n  - { name: staging, auto: true }\n" +
		"  - { name: prod, auto: true, splitTargets: true }\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: svc-%d\n    repo: acme/gitops\n    image: registry.example.com/svc-%d\n    targets:\n", i, i)
		fmt.Fprintf(&b, "      dev: { kustomize: apps/svc-%d/dev }\n      staging: { kustomize: apps/svc-%d/staging }\n", i, i)
		fmt.Fprintf(&b, "      prod:\n        - { kustomize: apps/svc-%d/prod-eu }\n        - { kustomize: apps/svc-%d/prod-us }\n", i, i)
	}
	rs, err := rules.Parse("rules.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// pushChanging is a push to acme/gitops's main changing the given
// services' overlays in env.
func pushChanging(t *testing.T, env string, services ...int) []byte {
	t.Helper()
	var paths []string
	for _, i := range services {
		paths = append(paths, fmt.Sprintf("apps/svc-%d/%s/kustomization.yaml", i, env))
	}
	sha := strings.Repeat("a", 40)
	hc := map[string]any{"id": sha, "message": "bump", "url": "https://github.com/acme/gitops/commit/" + sha,
		"added": []string{}, "modified": paths, "removed": []string{}}
	b, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "after": sha, "compare": "https://github.com/acme/gitops/compare/x",
		"installation": map[string]any{"id": 77},
		"repository": map[string]any{"full_name": "acme/gitops", "html_url": "https://github.com/acme/gitops",
			"clone_url": "https://github.com/acme/gitops.git"},
		"sender": map[string]any{"login": "alice"}, "head_commit": hc, "commits": []any{hc},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func summary(ins []intent.Intent) []string {
	var out []string
	for _, in := range ins {
		s := fmt.Sprintf("%s %s→%s %d", in.ID, in.From, in.To, len(in.Services))
		if in.Group {
			s += " grouped"
		}
		out = append(out, s)
	}
	return out
}

// defaults.group decides, per environment, whether one event's promotions
// share one PR: never, always, or (auto) above groupAbove PRs.
func TestGroupAuto(t *testing.T) {
	eleven := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		name     string
		defaults string
		env      string
		services []int
		want     []string
	}{
		{"auto, ten: one PR each", "  group: auto\n", "dev", eleven[:10], []string{
			"d:0 dev→staging 1", "d:1 dev→staging 1", "d:2 dev→staging 1", "d:3 dev→staging 1", "d:4 dev→staging 1",
			"d:5 dev→staging 1", "d:6 dev→staging 1", "d:7 dev→staging 1", "d:8 dev→staging 1", "d:9 dev→staging 1"}},
		{"auto, eleven: one grouped PR", "  group: auto\n", "dev", eleven, []string{"d:0 dev→staging 11 grouped"}},
		{"auto above 2, three", "  group: auto\n  groupAbove: 2\n", "dev", []int{0, 1, 2}, []string{"d:0 dev→staging 3 grouped"}},
		// prod splits into two targets: three services open six PRs.
		{"auto above 5, split targets count", "  group: auto\n  groupAbove: 5\n", "staging", []int{0, 1, 2}, []string{"d:0 staging→prod 3 grouped"}},
		{"auto above 6, split targets count", "  group: auto\n  groupAbove: 6\n", "staging", []int{0, 1, 2}, []string{
			"d:0 staging→prod 1", "d:1 staging→prod 1", "d:2 staging→prod 1"}},
		{"true: always", "  group: true\n", "dev", []int{4}, []string{"d:0 dev→staging 1 grouped"}},
		{"false: never", "  group: false\n", "dev", eleven, nil},
	} {
		rs := groupRules(t, 12, c.defaults)
		d := Delivery{Event: "push", ID: "d", Payload: pushChanging(t, c.env, c.services...)}
		got, err := Classify(rs, d)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.want == nil {
			if len(got) != len(c.services) || slices.ContainsFunc(got, func(in intent.Intent) bool { return in.Group }) {
				t.Errorf("%s: %v, want one ungrouped intent per service", c.name, summary(got))
			}
			continue
		}
		if s := summary(got); !slices.Equal(s, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, s, c.want)
		}
	}
}

// Environments are grouped each on its own count: a push changing eleven
// dev overlays and one staging overlay groups the staging PRs only.
func TestGroupPerEnvironment(t *testing.T) {
	rs := groupRules(t, 12, "  group: auto\n")
	var paths []int
	for i := range 11 {
		paths = append(paths, i)
	}
	var p map[string]any
	if err := json.Unmarshal(pushChanging(t, "dev", paths...), &p); err != nil {
		t.Fatal(err)
	}
	hc := p["head_commit"].(map[string]any)
	hc["modified"] = append(hc["modified"].([]any), "apps/svc-11/staging/kustomization.yaml")
	p["commits"] = []any{hc}
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Classify(rs, Delivery{Event: "push", ID: "d", Payload: body})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"d:0 dev→staging 11 grouped", "d:1 staging→prod 1"}
	if s := summary(got); !slices.Equal(s, want) {
		t.Errorf("got %v, want %v", s, want)
	}
}
