package drift_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/drift"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/history/gitfixture"
)

func TestCheckRaisesEveryFlag(t *testing.T) {
	o := gitfixture.OpenGitOps(t)
	rs, st, head := o.Rules, o.Store, o.Head
	h, err := history.Walk(context.Background(), st, head, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"two days after the last change: prod lags", gitfixture.Hour(50 + 48), []string{
			"api/dev hand-edit: apps/api/dev/values.yaml was last changed by hand: XXXXXXX by Alice on 2026-03-01 09:00 UTC",
			"api/staging hand-edit: apps/api/staging/values.yaml was last changed by hand: XXXXXXX by Bob on 2026-03-03 11:00 UTC",
			"api/staging image: runs image mirror.example.com/api, dev runs registry.example.com/api",
			"api/staging skipped: runs a2, which never ran in dev",
			"api/prod hand-edit: apps/api/prod/values.yaml was last changed by hand: XXXXXXX by Alice on 2026-03-01 09:00 UTC",
			"api/prod lag: runs a1 while staging has run a2 for 2d0h (lagWarning 1d)",
		}},
		{"an hour after: within lagWarning", gitfixture.Hour(51), []string{
			"api/dev hand-edit: apps/api/dev/values.yaml was last changed by hand: XXXXXXX by Alice on 2026-03-01 09:00 UTC",
			"api/staging hand-edit: apps/api/staging/values.yaml was last changed by hand: XXXXXXX by Bob on 2026-03-03 11:00 UTC",
			"api/staging image: runs image mirror.example.com/api, dev runs registry.example.com/api",
			"api/staging skipped: runs a2, which never ran in dev",
			"api/prod hand-edit: apps/api/prod/values.yaml was last changed by hand: XXXXXXX by Alice on 2026-03-01 09:00 UTC",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range drift.Check(h, rs, tc.now) {
				got = append(got, fmt.Sprintf("%s/%s %s: %s", f.Service, f.Env, f.Kind, shaRe(f.Message)))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("flags:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// shaRe hides the short commit shas, which depend on git's object format.
func shaRe(s string) string {
	if i := strings.Index(s, "by hand: "); i >= 0 && len(s) > i+16 {
		return s[:i+9] + "XXXXXXX" + s[i+16:]
	}
	return s
}
