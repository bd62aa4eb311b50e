package rules

import (
	"errors"
	"strings"
	"testing"
)

// base is a minimal valid rules file; each case edits one part of it.
const base = `version: 1
environments:
  - name: dev
  - name: prod
services:
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev: { kustomize: apps/web/dev }
      prod: { kustomize: apps/web/prod }
`

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("base.yaml", []byte(base)); err != nil {
		t.Fatalf("base: %v", err)
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace old with new in base ("" old: new is the whole file)
		field    string
		line     int
		msg      string // substring of the message
	}{
		{"missing version", "version: 1\n", "", "version", 1, "version is required"},
		{"wrong version", "version: 1", "version: 2", "version", 1, "unsupported version 2"},
		{"version as string", "version: 1", "version: '1'", "version", 1, "expected an integer"},
		{"unknown top-level field", "version: 1", "version: 1\nextra: true", "extra", 2, `unknown field "extra"`},
		{"unknown field case hint", "  - name: dev\n", "  - name: dev\n    autoMErge: true\n", "environments[0].autoMErge", 4, `did you mean "autoMerge"`},
		{"unknown target field", "{ kustomize: apps/web/dev }", "{ kustomize: apps/web/dev, tag: x }", "services[0].targets.dev[0].tag", 10, "unknown field"},
		{"bool as string", "  - name: dev\n", "  - name: dev\n    auto: 'yes'\n", "environments[0].auto", 4, "expected true or false"},
		{"string as number", "image: registry.example.com/web", "image: 12", "services[0].image", 8, "quote it"},
		{"list expected", "  - name: dev\n", "  - name: dev\n    labels: foo\n", "environments[0].labels", 4, "expected a list"},
		{"duplicate key", "    image: registry.example.com/web\n", "    image: registry.example.com/web\n    image: registry.example.com/web2\n", "services[0].image", 9, "duplicate key"},
		{"duplicate environment", "  - name: prod\n", "  - name: prod\n  - name: dev\n", "environments[2].name", 5, `duplicate environment "dev"`},
		{"invalid environment name", "name: prod", "name: Prod!", "environments[1].name", 4, "invalid environment name"},
		{"no environments", "environments:\n  - name: dev\n  - name: prod\n", "environments: []\n", "environments", 2, "at least one environment"},
		{"unknown environment in targets", "      prod: { kustomize: apps/web/prod }", "      qa: { kustomize: apps/web/prod }", "services[0].targets.qa", 11, `unknown environment "qa"`},
		{"unknown environment in overrides", "    targets:\n", "    environments:\n      qa: { auto: true }\n    targets:\n", "services[0].environments.qa", 10, `unknown environment "qa"`},
		{"duplicate service", "", base + "  - name: web\n    repo: acme/gitops\n    image: registry.example.com/web\n    targets: { dev: { kustomize: a } }\n", "services[1].name", 12, `duplicate service "web"`},
		{"invalid service name", "name: web", "name: Web", "services[0].name", 6, "invalid service name"},
		{"invalid repo", "repo: acme/gitops", "repo: acme/../x", "services[0].repo", 7, "invalid repository"},
		{"invalid image", "image: registry.example.com/web", "image: registry.example.com/web:v1", "services[0].image", 8, "invalid image"},
		{"path with ..", "apps/web/dev", "apps/../../etc", "services[0].targets.dev[0].kustomize", 10, "leaves the repository"},
		{"absolute path", "apps/web/dev", "/etc/passwd", "services[0].targets.dev[0].kustomize", 10, "relative"},
		{"backslash path", "apps/web/dev", `'apps\web'`, "services[0].targets.dev[0].kustomize", 10, "backslash"},
		{"NUL in path", "apps/web/dev", `"apps/\0web"`, "services[0].targets.dev[0].kustomize", 10, "NUL"},
		{"helm path leaves repo", "{ kustomize: apps/web/dev }", "{ helm: ../values.yaml, field: image.tag }", "services[0].targets.dev[0].helm", 10, "leaves the repository"},
		{"manifest path absolute", "{ kustomize: apps/web/dev }", "{ manifest: /d.yaml, container: web }", "services[0].targets.dev[0].manifest", 10, "relative"},
		{"two kinds in one target", "{ kustomize: apps/web/dev }", "{ kustomize: a, helm: b, field: x }", "services[0].targets.dev[0]", 10, "exactly one of kustomize, helm and manifest"},
		{"no kind in target", "{ kustomize: apps/web/dev }", "{ digest: true }", "services[0].targets.dev[0]", 10, "exactly one of"},
		{"helm without field", "{ kustomize: apps/web/dev }", "{ helm: values.yaml }", "services[0].targets.dev[0]", 10, "needs field"},
		{"manifest without container", "{ kustomize: apps/web/dev }", "{ manifest: d.yaml }", "services[0].targets.dev[0]", 10, "needs container"},
		{"field without helm", "{ kustomize: apps/web/dev }", "{ kustomize: a, field: image.tag }", "services[0].targets.dev[0].field", 10, "only to helm"},
		{"empty target list", "{ kustomize: apps/web/dev }", "[]", "services[0].targets.dev", 10, "at least one target"},
		{"target list in list form is checked", "      prod: { kustomize: apps/web/prod }", "      prod:\n        - { kustomize: a }\n        - { helm: b }", "services[0].targets.prod[1]", 13, "needs field"},
		{"empty targets", "    targets:\n      dev: { kustomize: apps/web/dev }\n      prod: { kustomize: apps/web/prod }\n", "    targets: {}\n", "services[0].targets", 9, "at least one environment"},
		{"targets scalar", "    targets:\n      dev: { kustomize: apps/web/dev }\n      prod: { kustomize: apps/web/prod }\n", "    targets:\n      dev: apps/web\n", "services[0].targets.dev", 10, "expected a target mapping or a list"},
		{"bad tag regex", "version: 1", "version: 1\ndefaults: { tagPattern: '^(v$' }", "defaults.tagPattern", 2, "invalid regular expression"},
		{"unanchored tag pattern", "version: 1", "version: 1\ndefaults: { tagPattern: 'v\\d+' }", "defaults.tagPattern", 2, "anchored"},
		{"half-anchored alternation", "version: 1", "version: 1\ndefaults: { tagPattern: '^v1|v2$' }", "defaults.tagPattern", 2, "anchored"},
		{"pattern admits slash", "version: 1", "version: 1\ndefaults: { tagPattern: '^.+$' }", "defaults.tagPattern", 2, "invalid OCI tag"},
		{"pattern admits colon", "version: 1", "version: 1\ndefaults: { tagPattern: '^[a-z0-9.:]+$' }", "defaults.tagPattern", 2, `"v1.2.3:x"`},
		{"pattern admits empty", "version: 1", "version: 1\ndefaults: { tagPattern: '^[a-z]*$' }", "defaults.tagPattern", 2, `invalid OCI tag ""`},
		{"pattern admits leading dot", "version: 1", "version: 1\ndefaults: { tagPattern: '^[.a-z0-9]+$' }", "defaults.tagPattern", 2, `".v1.2.3"`},
		{"pattern admits leading dash", "version: 1", "version: 1\ndefaults: { tagPattern: '^-?[a-z0-9][a-z0-9.]*$' }", "defaults.tagPattern", 2, `"-v1.2.3"`},
		{"pattern admits 129 chars", "version: 1", "version: 1\ndefaults: { tagPattern: '^[a-z0-9]+$' }", "defaults.tagPattern", 2, "aaaa"},
		{"multiline flag is not anchoring", "version: 1", "version: 1\ndefaults: { tagPattern: '(?m)^[a-z0-9.]{1,20}$' }", "defaults.tagPattern", 2, "anchored"},
		{"pattern admits newline", "version: 1", "version: 1\ndefaults: { tagPattern: '^[a-z0-9.\\n]{1,20}$' }", "defaults.tagPattern", 2, `\n`},
		{"service tag pattern", "    image: registry.example.com/web\n", "    image: registry.example.com/web\n    tagPattern: '^.*$'\n", "services[0].tagPattern", 9, "invalid OCI tag"},
		{"bad title template", "version: 1", "version: 1\ndefaults: { title: 'Promote {{.Service' }", "defaults.title", 2, "invalid title template"},
		{"unknown title field", "version: 1", "version: 1\ndefaults: { title: '{{if .Rollback}}{{.Nope}}{{end}}' }", "defaults.title", 2, "unknown field .Nope"},
		{"unknown function", "version: 1", "version: 1\ndefaults: { title: '{{exec .Service}}' }", "defaults.title", 2, "not defined"},
		{"template recursion refused", "version: 1", "version: 1\ndefaults: { title: '{{define \"x\"}}{{template \"x\"}}{{end}}{{template \"x\"}}' }", "defaults.title", 2, "not supported"},
		{"range over number refused", "version: 1", "version: 1\ndefaults: { title: '{{range 1000000000000}}{{end}}' }", "defaults.title", 2, "range only over a field"},
		{"range over parenthesised number refused", "version: 1", "version: 1\ndefaults: { title: '{{range (1000000000000)}}{{end}}' }", "defaults.title", 2, "range only over a field"},
		{"range over variable refused", "version: 1", "version: 1\ndefaults: { title: '{{$n := 1000000000000}}{{range $n}}{{end}}' }", "defaults.title", 2, "range only over a field"},
		{"branch template renders bad ref", "version: 1", "version: 1\ndefaults: { branch: 'promobot/{{.Env}}..{{.Service}}' }", "defaults.branch", 2, "not a valid branch name"},
		{"branch template with space", "version: 1", "version: 1\ndefaults: { branch: 'promo bot/{{.Service}}' }", "defaults.branch", 2, "not a valid branch name"},
		{"branch template unknown field", "version: 1", "version: 1\ndefaults: { branch: '{{.Tag}}' }", "defaults.branch", 2, "unknown field .Tag"},
		{"bad base branch", "version: 1", "version: 1\ndefaults: { baseBranch: 'main.lock' }", "defaults.baseBranch", 2, "invalid branch name"},
		{"window allow and deny", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * * *', deny: '0 0 * * *', duration: 1h }\n", "environments[1].windows[0]", 6, "not both"},
		{"window neither", "  - name: prod\n", "  - name: prod\n    windows:\n      - { duration: 1h }\n", "environments[1].windows[0]", 6, "set allow or deny"},
		{"window bad cron", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * *', duration: 1h }\n", "environments[1].windows[0].allow", 6, "invalid cron spec"},
		{"window six fields", "  - name: prod\n", "  - name: prod\n    windows:\n      - { deny: '0 0 9 * * *', duration: 1h }\n", "environments[1].windows[0].deny", 6, "invalid cron spec"},
		{"window never fires", "  - name: prod\n", "  - name: prod\n    windows:\n      - { deny: '0 0 30 2 *', duration: 1h }\n", "environments[1].windows[0].deny", 6, "never fires"},
		{"window TZ prefix", "  - name: prod\n", "  - name: prod\n    windows:\n      - { deny: 'TZ=UTC 0 0 * * *', duration: 1h }\n", "environments[1].windows[0].deny", 6, "timezone field"},
		{"window zero duration", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * * *', duration: 0s }\n", "environments[1].windows[0].duration", 6, "positive duration"},
		{"window missing duration", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * * *' }\n", "environments[1].windows[0].duration", 6, "positive duration"},
		{"window unknown zone", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * * *', duration: 1h, timezone: Mars/Olympus }\n", "environments[1].windows[0].timezone", 6, "unknown time zone"},
		{"window Local zone", "  - name: prod\n", "  - name: prod\n    windows:\n      - { allow: '0 9 * * *', duration: 1h, timezone: Local }\n", "environments[1].windows[0].timezone", 6, "unknown time zone"},
		{"negative soak", "  - name: prod\n", "  - name: prod\n    soak: -1h\n", "environments[1].soak", 5, "must not be negative"},
		{"bad duration", "  - name: prod\n", "  - name: prod\n    soak: 1d\n", "environments[1].soak", 5, "invalid duration"},
		{"bad ticket pattern", "  - name: prod\n", "  - name: prod\n    ticket: { required: true, pattern: '[A-Z' }\n", "environments[1].ticket.pattern", 5, "invalid regular expression"},
		{"ticket pattern matches empty", "  - name: prod\n", "  - name: prod\n    ticket: { pattern: '[A-Z]*' }\n", "environments[1].ticket.pattern", 5, "empty key"},
		{"ticket url template", "  - name: prod\n", "  - name: prod\n    ticket: { url: 'https://x/{{.Key}}' }\n", "environments[1].ticket.url", 5, "unknown field .Key"},
		{"ticket url scheme", "  - name: prod\n", "  - name: prod\n    ticket: { url: 'javascript:{{.Ticket}}' }\n", "environments[1].ticket.url", 5, "https://"},
		{"bad team", "  - name: prod\n", "  - name: prod\n    reviewers: { teams: [payments] }\n", "environments[1].reviewers.teams[0]", 5, "org/team-slug"},
		{"bad user", "  - name: prod\n", "  - name: prod\n    promoters: { users: ['al ice'] }\n", "environments[1].promoters.users[0]", 5, "invalid GitHub user"},
		{"override window bad cron", "    targets:\n", "    environments:\n      prod:\n        windows: [{ allow: 'nope', duration: 1h }]\n    targets:\n", "services[0].environments.prod.windows[0].allow", 11, "invalid cron spec"},
		{"source bad repo", "    targets:\n", "    source: { repo: nope }\n    targets:\n", "services[0].source.repo", 9, "invalid repository"},
		{"source bad tag template", "    targets:\n", "    source: { repo: acme/web, tag: 'sha-{{.ShortSHA' }\n    targets:\n", "services[0].source.tag", 9, "invalid tag template"},
		{"source tag unknown field", "    targets:\n", "    source: { repo: acme/web, tag: '{{.Commit}}' }\n    targets:\n", "services[0].source.tag", 9, "unknown field .Commit"},
		{"source tag renders invalid", "    targets:\n", "    source: { repo: acme/web, tag: 'sha:{{.SHA}}' }\n    targets:\n", "services[0].source.tag", 9, "not a valid OCI tag"},
		{"source workflow outside", "    targets:\n", "    source: { repo: acme/web, workflow: ../build.yml }\n    targets:\n", "services[0].source.workflow", 9, "leaves the repository"},
		{"source tagPattern unanchored", "    targets:\n", "    source: { repo: acme/web, tagPattern: 'v.*' }\n    targets:\n", "services[0].source.tagPattern", 9, "anchored"},
		{"generator path leaves repo", "", base + "generators:\n  - repo: acme/gitops\n    directories: '../*'\n    service: { name: '{{.Dir}}', image: 'r.io/{{.Dir}}', targets: { dev: { kustomize: '{{.Path}}' } } }\n", "generators[0].directories", 14, "leaves the repository"},
		{"generator bad glob", "", base + "generators:\n  - repo: acme/gitops\n    directories: 'apps/[a'\n    service: { name: '{{.Dir}}', image: 'r.io/{{.Dir}}', targets: { dev: { kustomize: '{{.Path}}' } } }\n", "generators[0].directories", 14, "invalid glob"},
		{"generator bad exclude", "", base + "generators:\n  - repo: acme/gitops\n    directories: 'apps/*'\n    exclude: ['/abs']\n    service: { name: '{{.Dir}}', image: 'r.io/{{.Dir}}', targets: { dev: { kustomize: '{{.Path}}' } } }\n", "generators[0].exclude[0]", 15, "relative"},
		{"generator unknown template field", "", base + "generators:\n  - repo: acme/gitops\n    directories: 'apps/*'\n    service:\n      name: '{{.Name}}'\n      image: 'r.io/x'\n      targets: { dev: { kustomize: '{{.Path}}' } }\n", "generators[0].service.name", 16, "unknown field .Name"},
		{"generator unknown env", "", base + "generators:\n  - repo: acme/gitops\n    directories: 'apps/*'\n    service:\n      name: '{{.Dir}}'\n      image: 'r.io/x'\n      targets:\n        qa: { kustomize: '{{.Path}}' }\n", "generators[0].service.targets.qa", 19, `unknown environment "qa"`},
		{"generator target path escapes", "", base + "generators:\n  - repo: acme/gitops\n    directories: 'apps/*'\n    service:\n      name: '{{.Dir}}'\n      image: 'r.io/x'\n      targets:\n        dev: { kustomize: '/{{.Path}}' }\n", "generators[0].service.targets.dev[0].kustomize", 19, "relative"},
		{"alias refused", "", "version: 1\nenvironments:\n  - &e { name: dev }\n  - *e\nservices: []\n", "", 3, "anchors are not supported"},
		{"not a mapping", "", "- 1\n- 2\n", "", 1, "must be a mapping"},
		{"empty file", "", "", "", 1, "empty rules file"},
		{"comment-only file", "", "# nothing\n", "", 1, "empty rules file"},
		{"two documents", "", base + "---\nversion: 1\n", "", 12, "only one YAML document"},
		{"syntax error", "", "version: 1\nenvironments: [\n", "", 2, "invalid YAML"},
		{"tab indentation", "", "version: 1\n\tenvironments: []\n", "", 2, "invalid YAML"},
		{"non-string key", "version: 1", "version: 1\n1: x", "", 2, "keys must be strings"},
		{"custom tag", "image: registry.example.com/web", "image: !secret registry.example.com/web", "services[0].image", 8, "expected a string"},
		{"bad merge method", "  - name: dev\n", "  - name: dev\n    mergeMethod: fast-forward\n", "environments[0].mergeMethod", 4, "want merge, squash or rebase"},
		{"health without checks", "  - name: dev\n", "  - name: dev\n    health: { timeout: 30m }\n", "environments[0].health.checks", 4, "at least one check"},
		{"health empty check", "  - name: dev\n", "  - name: dev\n    health: { checks: [''] }\n", "environments[0].health.checks[0]", 4, "must not be empty"},
		{"health unknown template field", "  - name: dev\n", "  - name: dev\n    health: { checks: ['cd/{{.Tag}}'] }\n", "environments[0].health.checks[0]", 4, "unknown field .Tag"},
		{"health bad template", "  - name: dev\n", "  - name: dev\n    health: { checks: ['cd/{{.Service'] }\n", "environments[0].health.checks[0]", 4, "invalid health check template"},
		{"health check renders multi-line", "  - name: dev\n", "  - name: dev\n    health: { checks: [\"a\\n{{.Service}}\"] }\n", "environments[0].health.checks[0]", 4, "one line"},
		{"health check too long", "  - name: dev\n", "  - name: dev\n    health: { checks: ['" + strings.Repeat("x", 256) + "'] }\n", "environments[0].health.checks[0]", 4, "longer than 255"},
		{"health zero timeout", "  - name: dev\n", "  - name: dev\n    health: { checks: [cd], timeout: 0s }\n", "environments[0].health.timeout", 4, "must be positive"},
		{"health bad timeout", "  - name: dev\n", "  - name: dev\n    health: { checks: [cd], timeout: soon }\n", "environments[0].health.timeout", 4, "invalid duration"},
		{"health unknown field", "  - name: dev\n", "  - name: dev\n    health: { checks: [cd], timout: 1h }\n", "environments[0].health.timout", 4, "unknown field"},
		{"health checks not a list", "  - name: dev\n", "  - name: dev\n    health: { checks: cd }\n", "environments[0].health.checks", 4, "expected a list"},
		{"too many health checks", "  - name: dev\n", "  - name: dev\n    health: { checks: [" + strings.Repeat("a,", 20) + "a] }\n", "environments[0].health.checks", 4, "at most 20"},
		{"deep nesting", "", "version: 1\nx: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", "", 2, "nesting deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.new
			if tt.old != "" {
				if !strings.Contains(base, tt.old) {
					t.Fatalf("case edits %q which base lacks", tt.old)
				}
				text = strings.Replace(base, tt.old, tt.new, 1)
			}
			r, err := Parse("rules.yaml", []byte(text))
			if err == nil {
				t.Fatalf("accepted:\n%s", text)
			}
			if r != nil {
				t.Fatalf("returned rules with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			for _, e := range errs {
				if e.Field == tt.field && e.Line == tt.line && strings.Contains(e.Msg, tt.msg) {
					if e.File != "rules.yaml" || e.Column < 1 {
						t.Errorf("bad position in %+v", e)
					}
					return
				}
			}
			t.Errorf("want %s at line %d containing %q; got:\n%v", tt.field, tt.line, tt.msg, err)
		})
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	text := `version: 3
defaults:
  tagPattern: 'v.*'
environments:
  - name: dev
  - name: dev
services:
  - name: Web
    repo: acme/gitops
    image: registry.example.com/web
    bogus: 1
    targets:
      qa: { kustomize: ../x }
      dev: { helm: values.yaml }
`
	_, err := Parse("all.yaml", []byte(text))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []struct {
		line  int
		field string
	}{
		{1, "version"},
		{3, "defaults.tagPattern"},
		{6, "environments[1].name"},
		{8, "services[0].name"},
		{11, "services[0].bogus"},
		{13, "services[0].targets.qa"},
		{14, "services[0].targets.dev[0]"},
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if errs[i].Line != w.line || errs[i].Field != w.field {
			t.Errorf("error %d = %d %s, want %d %s", i, errs[i].Line, errs[i].Field, w.line, w.field)
		}
	}
	// one line per error, in file:line:col: field: message form
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Error() has %d lines, want %d", len(lines), len(want))
	}
	if lines[0] != "all.yaml:1:10: version: unsupported version 3: want 1" {
		t.Errorf("first line = %q", lines[0])
	}
}

func TestOversizedFileRefused(t *testing.T) {
	big := base + "# " + strings.Repeat("x", MaxFileSize) + "\n"
	_, err := Parse("big.yaml", []byte(big))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want size error, got %v", err)
	}
}

func TestAliasBombRefused(t *testing.T) {
	// the classic billion laughs: must fail fast without expanding
	var b strings.Builder
	b.WriteString("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases are not supported") {
		t.Fatalf("want alias error, got %v", err)
	}
}
