package history_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/history/gitfixture"
)

var (
	alice  = gitfixture.Who{Name: "Alice", Email: "alice@example.com"}
	bob    = gitfixture.Who{Name: "Bob", Email: "bob@example.com"}
	bot    = gitfixture.Who{Name: "promobot[bot]", Email: "promobot[bot]@users.noreply.github.com"}
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	hourly = func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
)

func kust(image, tag string) string {
	return fmt.Sprintf("resources: [../base]\nimages:\n  - name: %s\n    newTag: %s\n", image, tag)
}

func kustName(image, name, tag string) string {
	return fmt.Sprintf("resources: [../base]\nimages:\n  - name: %s\n    newName: %s\n    newTag: %s\n", image, name, tag)
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

// fixture is a GitOps repository whose history holds every way a change
// comes: a hand-written start, a direct promobot commit (dev), a merged
// promobot PR (staging), a merged promobot PR into prod with a ticket, a
// hand edit of prod to a tag staging never ran (a skipped environment), a
// rollback PR, and a hand edit that repoints api's staging image.
func fixture(t *testing.T) *gitfixture.Repo {
	r := gitfixture.New(t)
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
	r.Commit(hourly(0), alice, "initial layout", start)
	r.Commit(hourly(1), bot, "Promote web v2 to dev\n\napps/web/dev/kustomization.yaml: web v1 -> v2\n\n"+
		trailers("d1:0", "update", "", "", "tag pattern (open)"), web("dev", "v2"))
	r.Commit(hourly(2), bob, "docs: typo", map[string]string{"README.md": "GitOps\n"})
	r.MergePR(hourly(5), bob, 5, "promobot/staging/web", "Promote web v2 to staging",
		"Promote web v2 to staging\n\napps/web/staging/kustomization.yaml: web v1 -> v2\n\n"+
			trailers("d2:0", "promote", "", "", "tag pattern (open)", "soak time (open)"), web("staging", "v2"))
	prod := map[string]string{}
	for k, v := range web("prod-eu", "v2") {
		prod[k] = v
	}
	for k, v := range web("prod-us", "v2") {
		prod[k] = v
	}
	r.MergePR(hourly(30), alice, 6, "promobot/prod/web", "Promote web v2 to prod [PAY-7]",
		"Promote web v2 to prod [PAY-7]\n\n"+trailers("c3:0", "promote", "carol", "PAY-7", "change ticket (open)"), prod)
	r.Commit(hourly(40), alice, "hotfix prod-eu to v3", web("prod-eu", "v3"))
	r.MergePR(hourly(41), bob, 7, "promobot/prod/web", "Roll back web to v2 in prod [PAY-8]",
		"Roll back web to v2 in prod [PAY-8]\n\n"+trailers("c4:0", "rollback", "dave", "PAY-8", "change ticket (open)"), web("prod-eu", "v2"))
	r.Commit(hourly(50), bob, "api staging from the mirror", map[string]string{
		"apps/api/staging/values.yaml": "image:\n  repository: mirror.example.com/api\n  tag: a2\n"})
	return r
}
