package commands

import (
	"slices"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

// FuzzParse: Parse never panics; a command it returns only names what the
// rules allow; a reply never carries user input outside a code span.
func FuzzParse(f *testing.F) {
	rs := testRules(f)
	for _, s := range []string{
		"/promote prod",
		"/promote staging payment-service web --tag v1.2.3 --ticket PAY-1",
		"/rollback prod web --tag=sha256:" + strings.Repeat("0", 64),
		"/Promote PROD Web --TAG V1",
		"/promote prod; rm -rf /",
		"/promote ../../etc",
		"/promote prod --tag --ticket",
		"/promote prod --tag=v1\r",
		"/promote @alice\n@bob",
		"/promote `x`@bob",
		"> /promote prod\n\n/promote dev",
		"```\n/promote prod\n```\n/promote dev",
		"~~~~\n~~~\n/promote prod",
		"> ```\n/promote prod",
		"<!--\n/promote prod\n-->",
		"／promote prod",
		"\u200b/promote prod",
		"   /promote\tprod\t",
		"/promote help",
		"/promote",
		"/rollback prod web payment-service",
		"/promote prod --ticket pay-1",
		"/promote dev --ticket a/b#1",
	} {
		f.Add(s)
	}
	envs := rs.EnvNames()
	f.Fuzz(func(t *testing.T, body string) {
		r := Parse(body, rs, repo)
		if r.Command == nil && r.Reply == nil {
			return
		}
		if r.Reply != nil {
			text := r.Reply.Text
			if strings.Contains(codeSpan.ReplaceAllString(text, ""), "@") {
				t.Fatalf("@ outside a code span in reply to %q:\n%s", body, text)
			}
			for _, c := range text {
				if c != '\n' && c < 0x20 || c == 0x7f {
					t.Fatalf("control character %U in reply to %q", c, body)
				}
			}
			if again := Parse(text, rs, repo); again.Command != nil || again.Reply != nil {
				t.Fatalf("reply to %q reads as a command", body)
			}
		}
		c := r.Command
		if c == nil {
			return
		}
		if c.Line < 1 || c.Line > strings.Count(body, "\n")+1 {
			t.Fatalf("line %d out of range for %q", c.Line, body)
		}
		if c.Kind == Help {
			if r.Reply == nil {
				t.Fatalf("help without reply for %q", body)
			}
			return
		}
		if r.Reply != nil {
			t.Fatalf("command and reply for %q", body)
		}
		if !slices.Contains(envs, c.Env) {
			t.Fatalf("env %q not in the rules, from %q", c.Env, body)
		}
		if len(c.Services) > MaxServices {
			t.Fatalf("%d services from %q", len(c.Services), body)
		}
		for _, s := range c.Services {
			svc, ok := rs.Service(s)
			if !ok || !strings.EqualFold(svc.Repo, repo) || !intent.ValidName(s) {
				t.Fatalf("service %q not of %s, from %q", s, repo, body)
			}
		}
		if c.Kind == Rollback && (len(c.Services) != 1 || c.Tag == "") {
			t.Fatalf("rollback %+v from %q", c, body)
		}
		if c.Tag != "" && !intent.ValidTag(c.Tag) && !intent.ValidDigest(c.Tag) {
			t.Fatalf("tag %q from %q", c.Tag, body)
		}
		if c.Ticket != "" {
			if len(c.Ticket) > MaxTicket {
				t.Fatalf("ticket %q from %q", c.Ticket, body)
			}
			for _, s := range c.Services {
				if !rs.TicketValid(s, c.Env, c.Ticket) {
					t.Fatalf("ticket %q invalid for %s/%s, from %q", c.Ticket, s, c.Env, body)
				}
			}
		}
	})
}
