// Package commands parses the ChatOps commands of issue and pull-request
// comments:
//
//	/promote <env> [<service> ...] [--tag <tag>] [--ticket <KEY>]
//	/rollback <env> <service> --tag <tag> [--ticket <KEY>]
//	/promote help
//
// Parsing is pure: it reads the comment and the rules and returns either a
// validated command, a reply to post, both (help), or nothing.
package commands

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Kind is what a command asks for.
type Kind int

// Command kinds. The zero Kind is not a command.
const (
	Promote Kind = iota + 1
	Rollback
	Help
)

// String names the kind as its command word.
func (k Kind) String() string {
	switch k {
	case Promote:
		return "promote"
	case Rollback:
		return "rollback"
	case Help:
		return "help"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Command is a parsed and validated command. Env and Services are rule
// names (lower-case); Services is empty when the comment named none (the
// worker takes them from the pull request). Tag is an OCI tag or a sha256
// digest, or empty for "what the previous environment runs".
type Command struct {
	Kind     Kind
	Env      string
	Services []string
	Tag      string
	Ticket   string
	Line     int // 1-based line of the comment holding the command
}

// Reply is a Markdown comment to post in answer. User input in it is always
// inside code spans, so it neither renders nor mentions anyone.
type Reply struct {
	Text string
}

// Result is what Parse found. Both nil: the comment holds no command and
// gets no reply. Command set, Reply nil: act on the command. Command nil,
// Reply set: the command did not parse; post the reply. Both set: Kind is
// Help; post the reply.
type Result struct {
	Command *Command
	Reply   *Reply
}

// Limits on hostile or oversized comments.
const (
	// MaxBody is how much of a comment is scanned; a command further down is ignored.
	MaxBody = 64 << 10
	// MaxLine is the longest command line, in characters.
	MaxLine = 1000
	// MaxServices is the most services one command may name.
	MaxServices = 50
	// MaxTicket is the longest ticket key.
	MaxTicket = 64
)

// Parse finds the command in a comment body: the first line that starts
// with /promote or /rollback (after at most three spaces) outside quotes,
// code blocks and HTML comments. rs validates environment, service and
// ticket; repo is the repository the comment was made in (owner/name), whose
// services alone may be named.
func Parse(body string, rs *rules.Rules, repo string) Result {
	kind, line, lineNo := find(body)
	if kind == 0 {
		return Result{}
	}
	if rs == nil {
		return reply("promobot has no promotion rules loaded, so it cannot act on commands yet. Try again later.")
	}
	line = strings.TrimRight(line, " \t")
	if n := utf8.RuneCountInString(line); n > MaxLine {
		return reply(fmt.Sprintf("Command too long: %d characters, at most %d.\n\n%s",
			n, MaxLine, help(rs, repo)))
	}
	p := &parser{kind: kind, rs: rs, repo: repo, line: lineNo}
	return p.parse(fields(line)[1:])
}

// find returns the first command line of body, its kind and its 1-based
// line number, or kind 0. Only whole lines within the first MaxBody bytes
// are looked at, so a command cut by the limit cannot be misread.
func find(body string) (Kind, string, int) {
	if len(body) > MaxBody {
		body = body[:MaxBody]
		body = body[:strings.LastIndexByte(body, '\n')+1]
	}
	var sc scanner
	for n := 1; body != ""; n++ {
		line := body
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
			// CRLF: only the CR of a line ending goes; a stray CR stays
			// and makes the token that holds it invalid.
			line = strings.TrimSuffix(line, "\r")
		} else {
			body = ""
		}
		text, ok := sc.text(line)
		if !ok {
			continue
		}
		if k := commandWord(text); k != 0 {
			return k, text, n
		}
	}
	return 0, "", 0
}

// commandWord recognises "/promote" and "/rollback" in any ASCII case,
// followed by a space, a tab or the end of the line. Look-alike slashes,
// letters and invisible characters do not match.
func commandWord(s string) Kind {
	if s == "" || s[0] != '/' {
		return 0
	}
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		end = len(s)
	}
	switch asciiLower(s[1:end]) {
	case "promote":
		return Promote
	case "rollback":
		return Rollback
	}
	return 0
}

// fields splits s at spaces and tabs only: other white space and control
// characters stay inside tokens, which then fail validation.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

// asciiLower lower-cases A-Z only, so no non-ASCII letter (the Kelvin
// sign, say) can fold into a rule name.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

type parser struct {
	kind     Kind
	rs       *rules.Rules
	repo     string
	line     int
	problems []string
}

func (p *parser) fail(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *parser) parse(args []string) Result {
	if len(args) == 0 || isHelp(args[0]) {
		return Result{
			Command: &Command{Kind: Help, Line: p.line},
			Reply:   &Reply{Text: help(p.rs, p.repo)},
		}
	}
	var (
		pos       []string
		tag       string
		ticket    string
		tagSet    bool
		ticketSet bool
		flagErrs  []string // reported after the environment and services
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		flag := asciiLower(name)
		if flag != "--tag" && flag != "--ticket" {
			flagErrs = append(flagErrs, fmt.Sprintf("%s is not a flag of `/%s`: use `--tag` or `--ticket`.", code(name), p.kind))
			continue
		}
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val, hasVal = args[i+1], true
			i++
		}
		seen := (flag == "--tag" && tagSet) || (flag == "--ticket" && ticketSet)
		switch {
		case seen:
			flagErrs = append(flagErrs, fmt.Sprintf("%s is given more than once.", code(flag)))
		case !hasVal || val == "":
			flagErrs = append(flagErrs, fmt.Sprintf("%s needs a value, e.g. %s.", code(flag), code(flagExample(flag))))
		case flag == "--tag":
			tag, tagSet = val, true
		default:
			ticket, ticketSet = val, true
		}
	}

	c := &Command{Kind: p.kind, Line: p.line, Tag: tag, Ticket: ticket}
	envOK := false
	if len(pos) == 0 {
		p.fail("Name the environment first, e.g. `/%s %s`.", p.kind, lastEnv(p.rs))
	} else {
		c.Env, envOK = p.env(pos[0])
	}
	svcs := pos[min(1, len(pos)):]
	if len(svcs) > MaxServices {
		p.fail("Too many services (%d): name at most %d.", len(svcs), MaxServices)
		svcs = nil
	}
	seenSvc := make(map[string]bool, len(svcs))
	for _, s := range svcs {
		if name, ok := p.service(s); ok && !seenSvc[name] {
			seenSvc[name] = true
			c.Services = append(c.Services, name)
		}
	}
	if p.kind == Rollback {
		switch {
		case len(svcs) == 0:
			p.fail("`/rollback` needs the service to roll back, e.g. `/rollback %s <service> --tag <tag>`.", lastEnv(p.rs))
		case len(svcs) > 1:
			p.fail("`/rollback` takes exactly one service, not %d.", len(svcs))
		}
		if !tagSet {
			p.fail("`/rollback` needs `--tag <tag>`: the tag to go back to.")
		}
	}
	p.problems = append(p.problems, flagErrs...)
	if tagSet && !intent.ValidTag(tag) && !intent.ValidDigest(tag) {
		p.fail("%s is not a valid image tag: a tag is 1 to 128 letters, digits, `_`, `.` and `-`, "+
			"not starting with `.` or `-`; a digest is `sha256:` and 64 hex digits.", code(tag))
	}
	if ticketSet && envOK {
		p.ticket(ticket, c.Env, c.Services)
	}

	if len(p.problems) > 0 {
		return reply(p.errorText())
	}
	return Result{Command: c}
}

func isHelp(s string) bool {
	switch asciiLower(s) {
	case "help", "--help", "-h":
		return true
	}
	return false
}

func flagExample(flag string) string {
	if flag == "--tag" {
		return "--tag v1.2.3"
	}
	return "--ticket PAY-123"
}

// env validates an environment token.
func (p *parser) env(tok string) (string, bool) {
	name := asciiLower(tok)
	envs := p.rs.EnvNames()
	for _, e := range envs {
		if e == name {
			return name, true
		}
	}
	if pathy(tok) {
		p.fail("%s is not a valid environment name: names cannot contain `/` or `..`.", code(tok))
		return "", false
	}
	if sug := suggest(name, envs); sug != "" {
		p.fail("%s is not an environment; did you mean %s?", code(tok), code(sug))
	} else {
		p.fail("%s is not an environment: use one of %s.", code(tok), list(envs))
	}
	return "", false
}

// service validates a service token against the services of the repository.
func (p *parser) service(tok string) (string, bool) {
	name := asciiLower(tok)
	if intent.ValidName(name) {
		if s, ok := p.rs.Service(name); ok {
			if strings.EqualFold(s.Repo, p.repo) {
				return name, true
			}
			// Do not say which repository it belongs to: the commenter is
			// not authorised yet.
			p.fail("%s is not a service of %s.", code(tok), code(p.repo))
			return "", false
		}
	}
	if pathy(tok) {
		p.fail("%s is not a valid service name: names cannot contain `/` or `..`.", code(tok))
		return "", false
	}
	var names []string
	for _, s := range p.rs.ServicesIn(p.repo) {
		names = append(names, s.Name)
	}
	if sug := suggest(name, names); sug != "" {
		p.fail("%s is not a service; did you mean %s?", code(tok), code(sug))
	} else {
		p.fail("%s is not a service of %s.", code(tok), code(p.repo))
	}
	return "", false
}

// ticket validates a ticket key against env's pattern for every named
// service, or for the repository's first service when none is named.
func (p *parser) ticket(key, env string, svcs []string) {
	if n := utf8.RuneCountInString(key); n > MaxTicket {
		p.fail("The ticket is too long (%d characters; at most %d).", n, MaxTicket)
		return
	}
	if !ticketChars(key) {
		p.fail("%s is not a valid ticket: use letters, digits and `-`, `_`, `.`, `#`, `/`, `:`.", code(key))
		return
	}
	if len(svcs) == 0 {
		if in := p.rs.ServicesIn(p.repo); len(in) > 0 {
			svcs = []string{in[0].Name}
		}
	}
	for _, s := range svcs {
		if p.rs.TicketValid(s, env, key) {
			continue
		}
		msg := fmt.Sprintf("%s is not a valid ticket for %s", code(key), code(env))
		if es, ok := p.rs.Env(s, env); ok && es.Ticket.Pattern != "" {
			msg += fmt.Sprintf(" (pattern %s)", code(es.Ticket.Pattern))
		}
		if up := strings.ToUpper(key); up != key && p.rs.TicketValid(s, env, up) {
			msg += fmt.Sprintf("; did you mean %s?", code(up))
		} else {
			msg += "."
		}
		p.fail("%s", msg)
		return
	}
}

// ticketChars keeps ticket keys to what issue trackers use, whatever the
// pattern: they end up in PR bodies and URLs.
func ticketChars(s string) bool {
	if s == "" || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("-_.#/:", rune(c))) {
			return false
		}
	}
	return true
}

// pathy reports whether tok looks like a path rather than a name.
func pathy(tok string) bool {
	return strings.ContainsAny(tok, `/\`) || strings.Contains(tok, "..")
}

func (p *parser) errorText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "promobot could not read the `/%s` command on line %d of this comment:\n\n", p.kind, p.line)
	const maxProblems = 10
	for i, pr := range p.problems {
		if i == maxProblems {
			fmt.Fprintf(&b, "- … and %d more.\n", len(p.problems)-maxProblems)
			break
		}
		b.WriteString("- " + pr + "\n")
	}
	b.WriteString("\n" + help(p.rs, p.repo))
	return b.String()
}

func reply(text string) Result { return Result{Reply: &Reply{Text: text}} }
