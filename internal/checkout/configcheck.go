package checkout

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/rules"
)

// ConfigCheckName is the check run that reports, on a pull request that
// changes a repository's configuration, whether it loads and what the
// organisation policy makes of it. CheckConfig computes its output; the
// pull request event that creates the check run is not wired yet.
const ConfigCheckName = "promobot/config"

// MaxConfigAnnotations is how many annotations GitHub takes with one
// check run update.
const MaxConfigAnnotations = 50

// ConfigAnnotation is one annotation of the check run, shaped as GitHub's
// check run output takes it (annotation_level failure).
type ConfigAnnotation struct {
	Path      string `json:"path"`
	StartLine int    `json:"start_line"`
	EndLine   int    `json:"end_line"`
	Level     string `json:"annotation_level"`
	Title     string `json:"title"`
	Message   string `json:"message"`
}

// ConfigCheck is the check run's conclusion and output.
type ConfigCheck struct {
	Conclusion  string // success or failure
	Title       string
	Summary     string // markdown
	Annotations []ConfigAnnotation
}

// CheckConfig checks the configuration data of src (a pull request's head)
// against the policy of the server's rules: every error and every policy
// violation becomes an annotation on its line; on success the summary
// lists what the policy adds, marked "required by organisation policy".
func CheckConfig(server *rules.Rules, src rules.ConfigSource, data []byte) ConfigCheck {
	var policy *rules.Policy
	if server != nil {
		policy = server.Policy
	}
	if src.Path == "" {
		src.Path = rules.DefaultRepoConfigPath
	}
	rs, err := rules.ParseRepoConfig(src, data, policy)
	if err == nil {
		return ConfigCheck{Conclusion: "success", Title: "configuration valid", Summary: validSummary(src, rs)}
	}
	errs, ok := err.(rules.Errors)
	if !ok {
		errs = rules.Errors{{File: src.Path, Line: 1, Msg: err.Error()}}
	}
	c := ConfigCheck{Conclusion: "failure"}
	var b strings.Builder
	violations := 0
	for _, e := range errs {
		title := "invalid configuration"
		if strings.Contains(e.Msg, "organisation policy") {
			title = "weakens the organisation policy"
			violations++
		}
		msg := e.Msg
		if e.Field != "" {
			msg = e.Field + ": " + e.Msg
		}
		if len(c.Annotations) < MaxConfigAnnotations {
			line := max(e.Line, 1)
			c.Annotations = append(c.Annotations, ConfigAnnotation{Path: src.Path, StartLine: line, EndLine: line, Level: "failure", Title: title, Message: msg})
		}
		fmt.Fprintf(&b, "- line %d: %s\n", max(e.Line, 1), strings.NewReplacer("\n", " ", "<", "&lt;").Replace(msg))
	}
	c.Title = fmt.Sprintf("%d error%s in %s", len(errs), plural(len(errs)), src.Path)
	head := fmt.Sprintf("`%s` does not load: promotions in %s stop while it is on the base branch.\n\n", src.Path, src.Repo)
	if violations > 0 {
		verb := "weaken"
		if violations == 1 {
			verb = "weakens"
		}
		head += fmt.Sprintf("%d error%s %s the organisation policy, which a repository cannot do.\n\n", violations, plural(violations), verb)
	}
	if len(errs) > MaxConfigAnnotations {
		head += fmt.Sprintf("The first %d errors are annotated; all are listed here.\n\n", MaxConfigAnnotations)
	}
	c.Summary = head + b.String()
	return c
}

func validSummary(src rules.ConfigSource, rs *rules.Rules) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s` is valid: %d environments, %d services.\n", src.Path, len(rs.Environments), len(rs.Services))
	var notes []string
	for _, env := range rs.EnvNames() {
		seen := map[string]bool{}
		for i := range rs.Services {
			st, ok := rs.Env(rs.Services[i].Name, env)
			if !ok {
				continue
			}
			for _, n := range st.Policy.Notes() {
				if !seen[n] {
					seen[n] = true
					notes = append(notes, fmt.Sprintf("- %s: %s (%s)", env, n, rules.ByPolicy))
				}
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nThe organisation policy adds:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
