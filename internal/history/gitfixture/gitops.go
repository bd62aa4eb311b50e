package gitfixture

import (
	"fmt"
	"testing"
	"time"
)

// GitOpsRules is the rules file GitOps is laid out for: web (kustomize,
// prod on two regional targets) and api (Helm) through dev (direct),
// staging and prod (ticket required, lagWarning 1d).
const GitOpsRules = `version: 1
defaults:
  baseBranch: main
environments:
  - name: dev
    auto: true
    direct: true
  - name: staging
    auto: true
  - name: prod
    reviewers: { users: [carol] }
    lagWarning: 1d
    ticket:
      required: true
      pattern: '[A-Z][A-Z0-9]+-\d+'
      url: 'https://jira.example.com/browse/{{.Ticket}}'
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev: { kustomize: apps/web/dev }
      staging: { kustomize: apps/web/staging }
      prod:
        - { kustomize: apps/web/prod-eu }
        - { kustomize: apps/web/prod-us }
  - name: api
    repo: acme/gitops
    image: registry.example.com/api
    targets:
      dev: { helm: apps/api/dev/values.yaml, field: image.tag }
      staging: { helm: apps/api/staging/values.yaml, field: image.tag }
      prod: { helm: apps/api/prod/values.yaml, field: image.tag }
`

// The fixture's people and clock: commit n of GitOps is at Hour(n).
var (
	alice = Who{Name: "Alice", Email: "alice@example.com"}
	bob   = Who{Name: "Bob", Email: "bob@example.com"}
	bot   = Who{Name: "promobot[bot]", Email: "promobot[bot]@users.noreply.github.com"}
	T0    = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	Hour  = func(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }
)

func kust(image, tag string) string {
	return fmt.Sprintf("resources: [../base]\nimages:\n  - name: %s\n    newTag: %s\n", image, tag)
}

func values(tag string) string {
	return "image:\n  repository: registry.example.com/api\n  tag: " + tag + "\n"
}

func web(env, tag string) map[string]string {
	return map[string]string{"apps/web/" + env + "/kustomization.yaml": kust("registry.example.com/web", tag)}
}

func trailers(intent, kind, requester, ticket string, gates ...string) string {
	s := ""
	if ticket != "" {
		s += "Ticket: " + ticket + "\n"
	}
	s += "Promobot-Intent: " + intent + "\nPromobot-Kind: " + kind + "\n"
	if requester != "" {
		s += "Promobot-Requester: " + requester + "\n"
	}
	for _, g := range gates {
		s += "Promobot-Gate: " + g + "\n"
	}
	return s
}

// GitOps is a GitOps repository whose history holds every way a change
// comes: a hand-written start, a direct promobot commit (dev), a merged
// promobot PR (staging), a merged promobot PR into prod with a ticket, a
// hand edit of prod to a tag staging never ran (a skipped environment), a
// rollback PR, and a hand edit that repoints api's staging image.
func GitOps(t testing.TB) *Repo {
	t.Helper()
	r := New(t)
	start := map[string]string{
		"apps/web/base/kustomization.yaml": "resources: []\n",
		"apps/api/dev/values.yaml":         values("a1"),
		"apps/api/staging/values.yaml":     values("a1"),
		"apps/api/prod/values.yaml":        values("a1"),
		"README.md":                        "gitops\n",
	}
	for _, env := range []string{"dev", "staging", "prod-eu", "prod-us"} {
		start["apps/web/"+env+"/kustomization.yaml"] = kust("registry.example.com/web", "v1")
	}
	r.Commit(Hour(0), alice, "initial layout", start)
	r.Commit(Hour(1), bot, "Promote web v2 to dev\n\napps/web/dev/kustomization.yaml: web v1 -> v2\n\n"+
		trailers("d1:0", "update", "", "", "tag pattern (open)"), web("dev", "v2"))
	r.Commit(Hour(2), bob, "docs: typo", map[string]string{"README.md": "GitOps\n"})
	r.MergePR(Hour(5), bob, 5, "promobot/staging/web", "Promote web v2 to staging",
		"Promote web v2 to staging\n\napps/web/staging/kustomization.yaml: web v1 -> v2\n\n"+
			trailers("d2:0", "promote", "", "", "tag pattern (open)", "soak time (open)"), web("staging", "v2"))
	prod := map[string]string{}
	for k, v := range web("prod-eu", "v2") {
		prod[k] = v
	}
	for k, v := range web("prod-us", "v2") {
		prod[k] = v
	}
	r.MergePR(Hour(30), alice, 6, "promobot/prod/web", "Promote web v2 to prod [PAY-7]",
		"Promote web v2 to prod [PAY-7]\n\n"+trailers("c3:0", "promote", "carol", "PAY-7", "change ticket (open)"), prod)
	r.Commit(Hour(40), alice, "hotfix prod-eu to v3", web("prod-eu", "v3"))
	r.MergePR(Hour(41), bob, 7, "promobot/prod/web", "Roll back web to v2 in prod [PAY-8]",
		"Roll back web to v2 in prod [PAY-8]\n\n"+trailers("c4:0", "rollback", "dave", "PAY-8", "change ticket (open)"), web("prod-eu", "v2"))
	r.Commit(Hour(50), bob, "api staging from the mirror", map[string]string{
		"apps/api/staging/values.yaml": "image:\n  repository: mirror.example.com/api\n  tag: a2\n"})
	return r
}
