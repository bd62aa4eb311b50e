package policy

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/planner"
)

// FuzzEvaluate feeds arbitrary PR files and bodies: Evaluate never fails on
// them, and whatever it says stays within GitHub's limits.
func FuzzEvaluate(f *testing.F) {
	f.Add(overlay("v1.4.0"), "PAY-1", false)
	f.Add(values("latest"), rollbackBody("prod", "payment-service", "v1.1.0"), true)
	f.Add("images: [ {\n", "<!-- promobot:{\"version\":1} -->", true)
	rs := mustRules(f)
	repo := base()
	f.Fuzz(func(t *testing.T, after, body string, bot bool) {
		res, err := Evaluate(context.Background(), Input{Rules: rs, Repo: "acme/gitops", Views: planner.Views{Base: repo, History: repo}, Ran: repo,
			Files: []File{change(repo, prodFile, after), change(repo, webProd, after)},
			PR:    PR{Title: body, Body: body, FromPromobot: bot}, Now: wed10})
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		if !res.Relevant || (res.Conclusion != Success && res.Conclusion != Failure) {
			t.Fatalf("relevant %v, conclusion %q", res.Relevant, res.Conclusion)
		}
		if len(res.Summary) > maxSummary || !utf8.ValidString(res.Summary) && utf8.ValidString(after) {
			t.Fatalf("summary of %d bytes", len(res.Summary))
		}
		for _, a := range res.Annotations {
			if a.Line < 1 || len(a.Message) > maxAnnotation || strings.ContainsAny(a.Message, "\r\n") {
				t.Fatalf("bad annotation %+v", a)
			}
		}
	})
}
