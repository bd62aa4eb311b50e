package rules

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/promobot/promobot/internal/intent"
)

// checker collects validation errors with the positions the decoder recorded.
type checker struct {
	file string
	vals map[string]pos
	keys map[string]pos
	bad  map[string]bool // paths whose value failed to decode: no second error there
	note string          // prefix for messages about generated services
	errs Errors
}

// at returns the position of path, or of its nearest recorded ancestor.
func (c *checker) at(p string, key bool) pos {
	for {
		if key {
			if ps, ok := c.keys[p]; ok {
				return ps
			}
		}
		if ps, ok := c.vals[p]; ok {
			return ps
		}
		if p == "" {
			return pos{1, 1}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
	}
}

func (c *checker) emit(p string, key bool, format string, args ...any) {
	if c.bad[p] {
		return
	}
	ps := c.at(p, key)
	c.errs = append(c.errs, FieldError{File: c.file, Line: ps.line, Column: ps.col, Field: p, Msg: c.note + fmt.Sprintf(format, args...)})
}

// add reports an error at the value of path.
func (c *checker) add(p, format string, args ...any) { c.emit(p, false, format, args...) }

// addKey reports an error at the key that names path (map keys, unknown names).
func (c *checker) addKey(p, format string, args ...any) { c.emit(p, true, format, args...) }

func (c *checker) present(p string) bool { _, ok := c.vals[p]; return ok }

// Defaults applied when the file omits them.
const (
	DefaultBaseBranch = "main"
	DefaultTagPattern = `^(v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?|sha-[0-9a-f]{7,40})$`
	DefaultLabel      = "promotion"
	DefaultTitle      = `{{if .Rollback}}Roll back{{else}}Promote{{end}} ` +
		`{{if gt (len .Services) 3}}{{len .Services}} services{{else if gt (len .Services) 1}}{{join .Services ", "}}{{else}}{{.Service}}{{end}}` +
		`{{if .Rollback}} in {{.Env}} to {{.Tag}}{{else}}{{with .Tag}} {{.}}{{end}} to {{.Env}}{{end}}` +
		`{{with .Ticket}} [{{.}}]{{end}}`
	DefaultBranch        = `promobot/{{.Env}}/{{.Service}}`
	DefaultSourceTag     = `sha-{{.ShortSHA}}`
	DefaultTicketPattern = `[A-Z][A-Z0-9]+-\d+`
)

// DefaultGroupAbove is group: auto's threshold when groupAbove is omitted:
// an event that would open more than this many PRs into one environment
// opens one grouped PR there instead.
const DefaultGroupAbove = 10

// checkGrouping checks defaults.groupAbove against defaults.group, as
// decoded at path (the decoder calls it: both fields are needed at once).
func (d *decoder) checkGrouping(df Defaults, path string) {
	p := fieldPath(path, "groupAbove")
	ps, set := d.vals[p]
	if !set || slices.ContainsFunc(d.errs, func(e FieldError) bool { return e.Field == p }) {
		return
	}
	bad := func(format string, args ...any) {
		d.errs = append(d.errs, FieldError{File: d.file, Line: ps.line, Column: ps.col, Field: p, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case df.GroupAbove < 1:
		bad("groupAbove must be at least 1, got %d", df.GroupAbove)
	case df.Group != GroupAuto:
		bad("groupAbove applies only with group: auto (group is %s)", df.Group)
	}
}

// invalidTags must be refused by every tag pattern: each is an invalid OCI tag.
var invalidTags = []string{
	"",
	"v1.2.3\n",
	"v1.2.3\nx",
	"sha-0123abc\n",
	"v1.2.3 x",
	"v1.2.3:x",
	"v1.2.3/x",
	"sha-0123abc/x",
	".v1.2.3",
	"-v1.2.3",
	"-sha-0123abc",
	strings.Repeat("a", 129),
	"sha-" + strings.Repeat("a", 125),
}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

// Sample data executed at load time so that a template that would fail at
// promotion time fails validation instead.
var (
	sampleBuild  = BuildInfo{SHA: "0123456789abcdef0123456789abcdef01234567", ShortSHA: "0123456", HeadBranch: "main", RunNumber: 42}
	sampleTitles = []TitleData{
		{Service: "sample", Services: []string{"sample"}, Tag: "v1.2.3", Env: "prod", From: "staging"},
		{Service: "sample", Services: []string{"sample"}, Tag: "v1.2.2", Env: "prod", From: "prod", Ticket: "ABC-123", Rollback: true},
		{Services: []string{"a", "b"}, Tag: "v1.2.3", Env: "prod", From: "staging", Ticket: "ABC-123"},
		{Services: []string{"a", "b", "c", "d"}, Env: "prod", From: "staging"},
	}
)

type branchData struct{ Env, Service string }
type ticketData struct{ Ticket string }
type genData struct{ Dir, Path string }

var fieldsOf = map[string][]string{
	"title":  {"Service", "Services", "Tag", "Env", "From", "Ticket", "Rollback"},
	"branch": {"Env", "Service"},
	"ticket": {"Ticket"},
	"build":  {"SHA", "ShortSHA", "HeadBranch", "RunNumber"},
	"gen":    {"Dir", "Path"},
	"health": {"Service", "Env"},
}

// parseTemplate parses text and checks that it names only the given fields
// and uses no construct that could run unbounded.
func parseTemplate(name, text, kind string) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "template: "+name+":"))
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("{{define}} and {{block}} are not supported")
	}
	if t.Tree == nil || t.Root == nil {
		return t, nil
	}
	known := fieldsOf[kind]
	if err := walkTemplate(t.Root, known); err != nil {
		return nil, err
	}
	return t, nil
}

func walkTemplate(n parse.Node, known []string) error {
	var err error
	var visit func(parse.Node)
	visit = func(n parse.Node) {
		if n == nil || err != nil {
			return
		}
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				visit(c)
			}
		case *parse.ActionNode:
			visit(x.Pipe)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				visit(c)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				visit(a)
			}
		case *parse.ChainNode:
			visit(x.Node)
		case *parse.FieldNode:
			if !contains(known, x.Ident[0]) {
				err = fmt.Errorf("unknown field .%s (known: .%s)", x.Ident[0], strings.Join(known, ", ."))
			}
		case *parse.IfNode:
			visit(x.Pipe)
			visit(x.List)
			visit(x.ElseList)
		case *parse.WithNode:
			visit(x.Pipe)
			visit(x.List)
			visit(x.ElseList)
		case *parse.RangeNode:
			// Only range over a field (.Services): ranging over an integer
			// (Go 1.22 templates) could spin for ever at load time.
			if len(x.Pipe.Cmds) != 1 || len(x.Pipe.Cmds[0].Args) != 1 {
				err = errors.New("range only over a field such as .Services")
				return
			}
			if _, ok := x.Pipe.Cmds[0].Args[0].(*parse.FieldNode); !ok {
				err = errors.New("range only over a field such as .Services")
				return
			}
			visit(x.Pipe)
			visit(x.List)
			visit(x.ElseList)
		case *parse.TemplateNode:
			err = errors.New("{{template}} is not supported")
		}
	}
	visit(n)
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxRendered bounds what one template may produce.
const maxRendered = 4096

type limitedBuffer struct{ bytes.Buffer }

var errTooLong = errors.New("rendered text is too long")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Buffer.Write(p)
}

func render(t *template.Template, data any) (string, error) {
	if t == nil {
		return "", errors.New("rules were not loaded with Parse")
	}
	var b limitedBuffer
	if err := t.Execute(&b, data); err != nil {
		var ee template.ExecError
		if errors.As(err, &ee) {
			return "", errors.New(strings.TrimPrefix(ee.Err.Error(), "template: "))
		}
		if errors.Is(err, errTooLong) {
			return "", errTooLong
		}
		return "", err
	}
	return b.String(), nil
}

// ValidBranch reports whether s is a valid branch name by the rules of
// `git check-ref-format --branch`.
func ValidBranch(s string) bool {
	if s == "" || len(s) > 255 || s == "@" || s[0] == '-' || s[0] == '/' ||
		strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") ||
		strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{") ||
		!utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return false
		}
	}
	for _, comp := range strings.Split(s, "/") {
		if strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	return true
}

// repoPathProblem explains why p is not a clean path inside a repository ("" when it is).
func repoPathProblem(p string) string {
	switch {
	case p == "":
		return "path is empty"
	case len(p) > 1024:
		return "path is too long"
	case strings.ContainsRune(p, 0):
		return "path contains a NUL byte"
	case strings.ContainsRune(p, '\\'):
		return "path contains a backslash; use /"
	case strings.HasPrefix(p, "/"):
		return "path must be relative to the repository root"
	case !utf8.ValidString(p):
		return "path is not valid UTF-8"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "path leaves the repository (..)"
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "path contains a control character"
		}
	}
	if path.Clean(p) != p {
		return fmt.Sprintf("path is not clean (write %q)", path.Clean(p))
	}
	if p == "." || p == ".git" || strings.HasPrefix(p, ".git/") {
		return "path must name a file or directory inside the repository"
	}
	return ""
}

var (
	imageRE     = regexp.MustCompile(`^(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	userRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}$`)
	teamRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	containerRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	fieldRE     = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

func validImage(s string) bool { return len(s) <= 255 && imageRE.MatchString(s) }

func validLabel(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 50 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// compileTagPattern compiles a pattern that decides which image tags may be
// written and refuses one that could admit an invalid OCI tag.
func compileTagPattern(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %s", regexpMsg(err))
	}
	ast, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %s", regexpMsg(err))
	}
	if !anchored(ast.Simplify(), true) || !anchored(ast.Simplify(), false) {
		return nil, errors.New("tag pattern must be anchored with ^ and $ so that it matches the whole tag")
	}
	for _, bad := range invalidTags {
		if re.MatchString(bad) {
			return nil, fmt.Errorf("tag pattern admits the invalid OCI tag %q", truncate(bad, 40))
		}
	}
	return re, nil
}

// anchored reports whether every match of re must start at the beginning
// (start) or end at the end of the text.
func anchored(re *syntax.Regexp, start bool) bool {
	switch re.Op {
	case syntax.OpBeginText:
		return start
	case syntax.OpEndText:
		return !start
	case syntax.OpCapture:
		return anchored(re.Sub[0], start)
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return false
		}
		if start {
			return anchored(re.Sub[0], start)
		}
		return anchored(re.Sub[len(re.Sub)-1], start)
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !anchored(s, start) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}

func regexpMsg(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %s", se.Code, truncate(se.Expr, 40))
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// compileTicketPattern returns an unanchored finder and a full-match regexp.
func compileTicketPattern(p string) (find, full *regexp.Regexp, err error) {
	find, err = regexp.Compile(p)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid regular expression: %s", regexpMsg(err))
	}
	full, err = regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid regular expression: %s", regexpMsg(err))
	}
	if full.MatchString("") {
		return nil, nil, errors.New("ticket pattern must not match an empty key")
	}
	return find, full, nil
}

// compileWindow parses a window's cron spec, duration and time zone.
func compileWindow(w Window) (ws WindowSchedule, errs []fieldMsg) {
	switch {
	case w.Allow != "" && w.Deny != "":
		errs = append(errs, fieldMsg{"", "set either allow or deny, not both"})
	case w.Allow == "" && w.Deny == "":
		errs = append(errs, fieldMsg{"", "set allow or deny (a cron spec)"})
	}
	spec, field := w.Allow, "allow"
	ws.Allow = true
	if w.Allow == "" {
		spec, field = w.Deny, "deny"
		ws.Allow = false
	}
	ws.Spec = spec
	ws.Location = time.UTC
	if w.Timezone != "" {
		loc, err := loadLocation(w.Timezone)
		if err != nil {
			errs = append(errs, fieldMsg{"timezone", err.Error()})
		} else {
			ws.Location = loc
		}
	}
	if spec != "" {
		sched, err := parseCron(spec)
		if err != nil {
			errs = append(errs, fieldMsg{field, err.Error()})
		} else {
			ws.Schedule = sched
		}
	}
	if w.Duration.Duration <= 0 {
		errs = append(errs, fieldMsg{"duration", "a window needs a positive duration such as 8h"})
	}
	ws.Duration = w.Duration.Duration
	return ws, errs
}

type fieldMsg struct{ field, msg string }

func loadLocation(name string) (*time.Location, error) {
	if name == "Local" || strings.ContainsAny(name, "\x00\\") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Berlin", name)
	}
	return loc, nil
}

func parseCron(spec string) (s cron.Schedule, err error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("put the time zone in the timezone field, not in the cron spec")
	}
	defer func() {
		// robfig/cron is third-party code fed user input; a panic there
		// must become a validation error.
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("invalid cron spec %q", spec)
		}
	}()
	s, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron spec %q: %v (want 5 fields: minute hour day-of-month month day-of-week)", truncate(spec, 60), err)
	}
	if s.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("cron spec %q never fires", spec)
	}
	return s, nil
}

// validRepo wraps intent.ValidRepo for use in this package.
func validRepo(s string) bool { return intent.ValidRepo(s) }
