package commands

import (
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

const repo = "acme/gitops"

func testRules(tb testing.TB) *rules.Rules {
	tb.Helper()
	b, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := rules.Parse("testdata/rules.yaml", b)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// outcome names what a Result asks the caller to do.
func outcome(r Result) string {
	switch {
	case r.Command == nil && r.Reply == nil:
		return "ignore"
	case r.Command != nil && r.Reply != nil && r.Command.Kind == Help:
		return "help"
	case r.Command != nil && r.Reply == nil:
		return "command"
	case r.Command == nil && r.Reply != nil:
		return "error"
	}
	return "inconsistent"
}

var (
	digest  = "sha256:" + strings.Repeat("ab", 32)
	tag128  = "v" + strings.Repeat("1", 127)
	filler  = strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 1800) // ~100 KB
	aboveMB = strings.Repeat("x", MaxBody-len("/promote prod\n")/2) + "\n"
)

func TestParse(t *testing.T) {
	rs := testRules(t)
	type want struct {
		outcome string   // ignore, command, help, error
		cmd     *Command // exact, for "command"
		reply   []string // substrings of the reply, for "help" and "error"
		absent  []string // strings the reply must not contain
	}
	cmd := func(k Kind, env string, svcs []string, tag, ticket string, line int) want {
		return want{outcome: "command", cmd: &Command{Kind: k, Env: env, Services: svcs, Tag: tag, Ticket: ticket, Line: line}}
	}
	ignore := want{outcome: "ignore"}
	errs := func(subs ...string) want { return want{outcome: "error", reply: subs} }
	helpW := want{outcome: "help", reply: []string{"#### promobot commands", "`dev` → `staging` → `prod`", "`payment-service`, `web`"}}

	tests := []struct {
		name string
		body string
		repo string // default repo
		want want
	}{
		// happy paths
		{"promote env only", "/promote prod", "", cmd(Promote, "prod", nil, "", "", 1)},
		{"promote services", "/promote staging payment-service web", "", cmd(Promote, "staging", []string{"payment-service", "web"}, "", "", 1)},
		{"services keep order", "/promote prod web payment-service", "", cmd(Promote, "prod", []string{"web", "payment-service"}, "", "", 1)},
		{"duplicate service once", "/promote prod web web", "", cmd(Promote, "prod", []string{"web"}, "", "", 1)},
		{"tag and ticket", "/promote prod web --tag v1.2.3 --ticket PAY-123", "", cmd(Promote, "prod", []string{"web"}, "v1.2.3", "PAY-123", 1)},
		{"tag with equals", "/promote prod --tag=v1.2.3", "", cmd(Promote, "prod", nil, "v1.2.3", "", 1)},
		{"ticket with equals", "/promote prod --ticket=OPS-7", "", cmd(Promote, "prod", nil, "", "OPS-7", 1)},
		{"flags before positionals", "/promote --tag sha-abc1234 staging web", "", cmd(Promote, "staging", []string{"web"}, "sha-abc1234", "", 1)},
		{"digest", "/promote staging web --tag " + digest, "", cmd(Promote, "staging", []string{"web"}, digest, "", 1)},
		{"128-char tag", "/promote dev --tag " + tag128, "", cmd(Promote, "dev", nil, tag128, "", 1)},
		{"rollback", "/rollback prod web --tag v1.2.2", "", cmd(Rollback, "prod", []string{"web"}, "v1.2.2", "", 1)},
		{"rollback with ticket", "/rollback prod payment-service --tag v1.0.0 --ticket PAY-9", "", cmd(Rollback, "prod", []string{"payment-service"}, "v1.0.0", "PAY-9", 1)},
		{"ticket without pattern", "/promote dev --ticket whatever-1", "", cmd(Promote, "dev", nil, "", "whatever-1", 1)},
		{"repo case-insensitive", "/promote prod web", "ACME/GitOps", cmd(Promote, "prod", []string{"web"}, "", "", 1)},

		// case, spacing, lines
		{"mixed case", "/Promote PROD Web --TAG V1.2.3", "", cmd(Promote, "prod", []string{"web"}, "V1.2.3", "", 1)},
		{"mixed case rollback", "/ROLLBACK Prod web --Tag v1", "", cmd(Rollback, "prod", []string{"web"}, "v1", "", 1)},
		{"spaces and tabs", "   /promote \t prod\t\tweb   --tag   v1  \t", "", cmd(Promote, "prod", []string{"web"}, "v1", "", 1)},
		{"later lines ignored", "/promote prod\nthanks!\n/promote dev", "", cmd(Promote, "prod", nil, "", "", 1)},
		{"command on line 3", "LGTM\n\n/promote staging", "", cmd(Promote, "staging", nil, "", "", 3)},
		{"inside a paragraph", "I checked the dashboards\n/promote prod", "", cmd(Promote, "prod", nil, "", "", 2)},
		{"CRLF", "hi\r\n/promote prod web\r\nthanks\r\n", "", cmd(Promote, "prod", []string{"web"}, "", "", 2)},
		{"CRLF tag", "/promote prod --tag v1.2.3\r\n", "", cmd(Promote, "prod", nil, "v1.2.3", "", 1)},
		{"first command counts even if bad", "/promote prdo\n/promote prod", "", errs("`prdo` is not an environment")},

		// Markdown containers
		{"quoted", "> /promote prod", "", ignore},
		{"quoted nested", "> > /promote prod\n>>/promote dev", "", ignore},
		{"quoted indented", "   > /promote prod", "", ignore},
		{"lazy quote continuation", "> can we ship?\n/promote prod", "", ignore},
		{"after a quote and blank line", "> /promote prod\n\n/promote staging", "", cmd(Promote, "staging", nil, "", "", 3)},
		{"backtick fence", "```\n/promote prod\n```", "", ignore},
		{"fence with info string", "```bash title=x\n/promote prod\n```\n", "", ignore},
		{"tilde fence", "~~~\n/promote prod\n~~~", "", ignore},
		{"after a closed fence", "```\n/promote dev\n```\n/promote prod", "", cmd(Promote, "prod", nil, "", "", 4)},
		{"shorter run does not close", "````\n```\n/promote prod\n````", "", ignore},
		{"other char does not close", "```\n~~~\n/promote prod\n```\n/promote dev", "", cmd(Promote, "dev", nil, "", "", 5)},
		{"closing fence with text does not close", "```\n``` no\n/promote prod", "", ignore},
		{"unclosed fence runs to end", "text\n```\n/promote prod", "", ignore},
		{"backtick in info string is no fence", "``` a`b\n/promote prod", "", cmd(Promote, "prod", nil, "", "", 2)},
		{"indented code", "text\n\n    /promote prod", "", ignore},
		{"tab indented", "\t/promote prod", "", ignore},
		{"quoted fence ends with quote", "> ```\n> /promote dev\n/promote prod", "", cmd(Promote, "prod", nil, "", "", 3)},
		{"html comment", "<!--\n/promote prod\n-->\n", "", ignore},
		{"after html comment", "<!-- template -->\n<!--\n/promote dev\n-->\n/promote prod", "", cmd(Promote, "prod", nil, "", "", 5)},

		// look-alikes: no command, no reply
		{"full-width solidus", "／promote prod", "", ignore},
		{"fraction slash", "⁄promote prod", "", ignore},
		{"zero-width space", "\u200b/promote prod", "", ignore},
		{"zero-width joiner inside", "/\u200dpromote prod", "", ignore},
		{"byte order mark", "\ufeff/promote prod", "", ignore},
		{"cyrillic o", "/prоmote prod", "", ignore},
		{"kelvin sign", "/rollbac\u212a prod web --tag v1", "", ignore},
		{"promoted", "/promoted prod", "", ignore},
		{"promote-prod", "/promote-prod", "", ignore},
		{"no-break space", "/promote\u00a0prod", "", ignore},
		{"not at line start", "please /promote prod", "", ignore},
		{"empty", "", "", ignore},

		// help
		{"alone", "/promote", "", helpW},
		{"alone with spaces", "/promote   ", "", helpW},
		{"help", "/promote help", "", helpW},
		{"HELP", "/Promote HELP", "", helpW},
		{"rollback help", "/rollback help", "", helpW},
		{"--help", "/promote --help", "", helpW},

		// malformed and hostile
		{"shell injection", "/promote prod; rm -rf /", "", errs("`prod;` is not an environment; did you mean `prod`?", "`-rf` is not a flag")},
		{"dot-dot env", "/promote ../../etc", "", errs("`../../etc` is not a valid environment name", "cannot contain `/` or `..`")},
		{"slash env", "/promote prod/../x", "", errs("`prod/../x` is not a valid environment name")},
		{"dot-dot service", "/promote prod ../web", "", errs("`../web` is not a valid service name")},
		{"quotes are characters", `/promote "prod"`, "", errs("`\"prod\"` is not an environment")},
		{"no environment", "/promote --tag v1", "", errs("Name the environment first")},
		{"tag without value", "/promote prod --tag", "", errs("`--tag` needs a value")},
		{"tag empty after equals", "/promote prod --tag=", "", errs("`--tag` needs a value")},
		{"tag followed by flag", "/promote prod --tag --ticket PAY-1", "", errs("`--tag` needs a value")},
		{"unknown flag", "/promote prod --force", "", errs("`--force` is not a flag of `/promote`")},
		{"short flag", "/promote prod -t v1", "", errs("`-t` is not a flag")},
		{"repeated flag", "/promote prod --tag v1 --tag=v2", "", errs("`--tag` is given more than once")},
		{"tag with colon", "/promote prod --tag v1:latest", "", errs("`v1:latest` is not a valid image tag")},
		{"129-char tag", "/promote prod --tag " + tag128 + "9", "", errs("is not a valid image tag")},
		{"tag with CR", "/promote prod --tag=v1\r", "", errs("`v1\uFFFD` is not a valid image tag")},
		{"tag with control char", "/promote prod --tag v1\x07", "", errs("is not a valid image tag")},
		{"rollback without service and tag", "/rollback prod", "", errs("`/rollback` needs the service", "`/rollback` needs `--tag <tag>`", "`payment-service`, `web`")},
		{"rollback two services", "/rollback prod web payment-service --tag v1", "", errs("`/rollback` takes exactly one service, not 2")},
		{"misspelt env", "/promote prdo", "", errs("`prdo` is not an environment; did you mean `prod`?")},
		{"env prefix", "/promote stag", "", errs("did you mean `staging`?")},
		{"unknown env", "/promote qa", "", errs("`qa` is not an environment: use one of `dev`, `staging`, `prod`")},
		{"misspelt service", "/promote prod paymnet-service", "", errs("`paymnet-service` is not a service; did you mean `payment-service`?")},
		{"service of another repo", "/promote prod billing", "", want{outcome: "error",
			reply: []string{"`billing` is not a service of `acme/gitops`"}, absent: []string{"billing-ops"}}},
		{"unknown service", "/promote prod zzzzzz", "", errs("`zzzzzz` is not a service of `acme/gitops`", "Services of `acme/gitops`: `payment-service`, `web`")},
		{"too many services", "/promote prod" + strings.Repeat(" web", 51), "", errs("Too many services (51)")},
		{"ticket not matching", "/promote prod web --ticket pay-123", "", errs("`pay-123` is not a valid ticket for `prod`", "did you mean `PAY-123`?")},
		{"ticket pattern shown", "/promote prod --ticket FOO", "", errs("`FOO` is not a valid ticket for `prod` (pattern `[A-Z][A-Z0-9]+-\\d+`)")},
		{"ticket too long", "/promote prod --ticket PAY-" + strings.Repeat("1", 62), "", errs("The ticket is too long (66 characters; at most 64)")},
		{"ticket mention", "/promote dev --ticket @alice", "", errs("`@alice` is not a valid ticket")},
		{"ticket dot-dot", "/promote dev --ticket a/../../x", "", errs("`a/../../x` is not a valid ticket")},
		{"mention as env", "/promote @alice\n@bob", "", want{outcome: "error", reply: []string{"`@alice` is not an environment"}, absent: []string{"@bob"}}},
		{"backticks neutralised", "/promote `x`@bob", "", errs("`'x'@bob` is not an environment")},
		{"token truncated", "/promote " + strings.Repeat("a", 100), "", errs("`" + strings.Repeat("a", 64) + "…`")},
		{"command too long", "/promote prod " + strings.Repeat("web ", 500), "", errs("Command too long: 2013 characters, at most 1000.")},

		// size limits
		{"100 KB, command first", "/promote prod web\n" + filler, "", cmd(Promote, "prod", []string{"web"}, "", "", 1)},
		{"command after 64 KiB", filler + "/promote prod\n", "", ignore},
		{"command across the 64 KiB limit", aboveMB + "/promote prod --tag v1.2.3", "", ignore},
	}
	if len(tests) < 45 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.repo
			if r == "" {
				r = repo
			}
			got := Parse(tt.body, rs, r)
			if o := outcome(got); o != tt.want.outcome {
				t.Fatalf("outcome %s, want %s; result %+v %+v", o, tt.want.outcome, got.Command, got.Reply)
			}
			if tt.want.cmd != nil && !reflect.DeepEqual(got.Command, tt.want.cmd) {
				t.Errorf("command\n got %+v\nwant %+v", *got.Command, *tt.want.cmd)
			}
			if got.Reply != nil {
				for _, s := range tt.want.reply {
					if !strings.Contains(got.Reply.Text, s) {
						t.Errorf("reply lacks %q:\n%s", s, got.Reply.Text)
					}
				}
				for _, s := range tt.want.absent {
					if strings.Contains(got.Reply.Text, s) {
						t.Errorf("reply contains %q:\n%s", s, got.Reply.Text)
					}
				}
				checkReply(t, got.Reply.Text, rs)
			}
		})
	}
}

var codeSpan = regexp.MustCompile("`[^`\n]*`")

// checkReply asserts what every reply guarantees: user input only inside
// code spans (no @mention outside one), no control characters, and no line
// that promobot would read as a command itself.
func checkReply(t testing.TB, text string, rs *rules.Rules) {
	t.Helper()
	if strings.Contains(codeSpan.ReplaceAllString(text, ""), "@") {
		t.Errorf("reply has @ outside a code span:\n%s", text)
	}
	for _, r := range text {
		if r != '\n' && r < 0x20 || r == 0x7f {
			t.Errorf("reply has control character %U:\n%q", r, text)
		}
	}
	if r := Parse(text, rs, repo); outcome(r) != "ignore" {
		t.Errorf("reply reads as a command: %+v %+v", r.Command, r.Reply)
	}
}

func TestNilRules(t *testing.T) {
	r := Parse("/promote prod", nil, repo)
	if outcome(r) != "error" || !strings.Contains(r.Reply.Text, "no promotion rules") {
		t.Fatalf("got %+v %+v", r.Command, r.Reply)
	}
	if outcome(Parse("no command", nil, repo)) != "ignore" {
		t.Fatal("a comment without a command must be ignored")
	}
	if ServicesHint(nil, repo) != "" {
		t.Fatal("ServicesHint(nil) not empty")
	}
}

func TestServicesHint(t *testing.T) {
	rs := testRules(t)
	tests := []struct{ repo, want string }{
		{repo, "Services of `acme/gitops`: `payment-service`, `web`. Name them after the environment, e.g. `/promote prod payment-service`."},
		{"acme/billing-ops", "Services of `acme/billing-ops`: `billing`. Name them after the environment, e.g. `/promote prod billing`."},
		{"acme/none", "No service of `acme/none` is in the promotion rules."},
		{"@evil/x`y", "No service of `@evil/x'y` is in the promotion rules."},
	}
	for _, tt := range tests {
		if got := ServicesHint(rs, tt.repo); got != tt.want {
			t.Errorf("ServicesHint(%q)\n got %q\nwant %q", tt.repo, got, tt.want)
		}
	}
}

// TestGolden pins the full text of the replies people read.
func TestGolden(t *testing.T) {
	rs := testRules(t)
	tests := []struct{ file, text string }{
		{"testdata/usage.golden", Usage()},
		{"testdata/help.golden", Parse("/promote help", rs, repo).Reply.Text},
		{"testdata/error.golden", Parse("thanks\n/promote prdo paymnet-service --force --tag v1:2", rs, repo).Reply.Text},
	}
	for _, tt := range tests {
		if *update {
			if err := os.WriteFile(tt.file, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if tt.text != string(want) {
			t.Errorf("%s differs (run with -update):\n%s", tt.file, tt.text)
		}
		checkReply(t, tt.text, rs)
	}
}

func TestCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"prod", "`prod`"},
		{"a`b", "`a'b`"},
		{"", "` `"},
		{"x\ny\r\x00", "`x\uFFFDy\uFFFD\uFFFD`"},
		{"\u202eevil", "`\uFFFDevil`"}, // bidi override
		{"\xff", "`\uFFFD`"},
		{strings.Repeat("é", 70), "`" + strings.Repeat("é", 64) + "…`"},
	}
	for _, tt := range tests {
		if got := code(tt.in); got != tt.want {
			t.Errorf("code(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"dev", "staging", "prod"}
	tests := []struct{ in, want string }{
		{"prdo", "prod"},  // transposition
		{"prd", "prod"},   // deletion
		{"prodd", "prod"}, // insertion
		{"stagign", "staging"},
		{"stag", "staging"},    // prefix
		{"production", "prod"}, // candidate is a prefix
		{"qa", ""},
		{"p", ""},
		{strings.Repeat("x", 100), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, cands); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Promote: "promote", Rollback: "rollback", Help: "help", 0: "Kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

func BenchmarkParse100KB(b *testing.B) {
	rs := testRules(b)
	bodies := map[string]string{
		"command-first": "/promote prod web --tag v1.2.3\n" + filler,
		"no-command":    filler,
		"fenced":        "```\n" + strings.Repeat("/promote prod\n", 8000),
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				Parse(body, rs, repo)
			}
		})
	}
}
