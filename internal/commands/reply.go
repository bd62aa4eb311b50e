package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/rules"
)

// usage is static so that it can be posted whatever the rules say; help
// adds the environments and services. No line of it starts with a command
// outside the code block, so promobot never answers its own replies.
const usage = "#### promobot commands\n" +
	"\n" +
	"```text\n" +
	"/promote <env> [<service> ...] [--tag <tag>] [--ticket <KEY>]\n" +
	"/rollback <env> <service> --tag <tag> [--ticket <KEY>]\n" +
	"/promote help\n" +
	"```\n" +
	"\n" +
	"- `<env>`: the environment to promote into.\n" +
	"- `<service>`: services of this repository; on a promotion pull request they default to the services it changed.\n" +
	"- `--tag`: the image tag (or `sha256:` digest); by default the tag the previous environment runs. `/rollback` needs it.\n" +
	"- `--ticket`: the change ticket, where the environment asks for one.\n" +
	"\n" +
	"Example: `/promote prod payment-service --tag v2.4.1 --ticket PAY-123`\n"

// Usage returns the command grammar with an example, in Markdown.
func Usage() string { return usage }

// help is Usage plus the environments of rs and the services of repo.
func help(rs *rules.Rules, repo string) string {
	var b strings.Builder
	b.WriteString(usage)
	b.WriteString("\nEnvironments, in promotion order: ")
	for i, e := range rs.EnvNames() {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(code(e))
	}
	b.WriteString(".\n\n")
	b.WriteString(ServicesHint(rs, repo))
	b.WriteString("\n")
	return b.String()
}

// ServicesHint renders the services of repo for a reply such as "name the
// services" on an issue, where no pull request says which ones are meant.
func ServicesHint(rs *rules.Rules, repo string) string {
	if rs == nil {
		return ""
	}
	svcs := rs.ServicesIn(repo)
	if len(svcs) == 0 {
		return fmt.Sprintf("No service of %s is in the promotion rules.", code(repo))
	}
	names := make([]string, 0, len(svcs))
	for _, s := range svcs {
		names = append(names, s.Name)
	}
	const maxNames = 50
	more := ""
	if len(names) > maxNames {
		more = fmt.Sprintf(" and %d more", len(names)-maxNames)
		names = names[:maxNames]
	}
	return fmt.Sprintf("Services of %s: %s%s. Name them after the environment, e.g. %s.",
		code(repo), list(names), more, code("/promote "+lastEnv(rs)+" "+names[0]))
}

// lastEnv is the final environment, the usual target of a typed command.
func lastEnv(rs *rules.Rules) string {
	envs := rs.EnvNames()
	if len(envs) == 0 {
		return "<env>"
	}
	return envs[len(envs)-1]
}

func list(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = code(n)
	}
	return strings.Join(out, ", ")
}

// maxShown is how much of a user's token a reply repeats.
const maxShown = 64

// code renders s as an inline code span that is safe to post: no
// backtick can close it, no control, format or separator character
// survives (each shows as U+FFFD), and it is cut to maxShown characters.
// Inside a code span GitHub renders no Markdown, HTML, @mention or #ref.
func code(s string) string {
	var b strings.Builder
	b.WriteByte('`')
	n := 0
	for _, r := range s { // invalid UTF-8 comes out as U+FFFD
		if n == maxShown {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '`':
			b.WriteByte('\'')
		case r != ' ' && !unicode.IsGraphic(r), unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	if n == 0 {
		b.WriteString(" ")
	}
	b.WriteByte('`')
	return b.String()
}

// suggest returns the candidate closest to s: within a Damerau-Levenshtein
// distance of 2, else one that s starts or that starts s; "" when none.
func suggest(s string, candidates []string) string {
	if s == "" || utf8.RuneCountInString(s) > maxShown {
		return ""
	}
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(s) < 2 {
		return ""
	}
	for _, c := range candidates {
		if strings.HasPrefix(c, s) || strings.HasPrefix(s, c) {
			return c
		}
	}
	return ""
}

// distance is the optimal-string-alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// three rows: i-2, i-1, i
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
