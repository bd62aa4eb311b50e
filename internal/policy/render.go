package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/planner"
)

// render writes the check run's title and Markdown summary: one heading
// per changed service and environment, one line per gate (the planner's
// GateSummary, as promobot's PR bodies show them), and when the check is
// judged again.
func render(res Result) (title, summary string) {
	failed := 0
	for _, c := range res.Checks {
		if !c.Passed() {
			failed++
		}
	}
	switch {
	case len(res.Checks) == 0:
		title = "Policy passed: no image reference changes"
	case failed == 0:
		title = fmt.Sprintf("Policy passed: %s", plural(len(res.Checks), "change"))
	default:
		title = fmt.Sprintf("Policy failed: %d of %s", failed, plural(len(res.Checks), "change"))
	}
	var b strings.Builder
	if len(res.Checks) == 0 {
		b.WriteString("This pull request changes target files but no image reference in them.\n")
	}
	for i, c := range res.Checks {
		if i > 0 {
			b.WriteString("\n")
		}
		mark := "✅"
		if !c.Passed() {
			mark = "⛔"
		}
		fmt.Fprintf(&b, "#### %s %s → %s: %s → %s\n", mark, c.Service, c.Env, code(ref(c.Old)), code(ref(c.New)))
		fmt.Fprintf(&b, "%s, line %d\n\n", code(c.Path), c.Line)
		b.WriteString(planner.GateSummary(c.Gates))
	}
	// No "judged at" time: the same verdict must render the same text, so
	// that a re-evaluation that changes nothing writes nothing.
	if !res.Next.IsZero() {
		fmt.Fprintf(&b, "\nJudged again at %s, when a time gate changes.\n", res.Next.UTC().Format(time.RFC3339))
	}
	return title, capText(b.String(), maxSummary)
}

func ref(r edit.Ref) string {
	if s := r.String(); s != "" {
		return s
	}
	return "(none)"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// code renders s as inline code; repository content may hold backticks,
// line breaks or markup, which must not escape the span.
func code(s string) string {
	s = strings.NewReplacer("`", "'", "\r", " ", "\n", " ").Replace(s)
	return "`" + s + "`"
}
