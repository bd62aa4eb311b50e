package planner

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
)

//go:embed body.md.tmpl
var bodyTemplate string

var bodyTmpl = template.Must(template.New("body").Funcs(template.FuncMap{
	"ref":   refString,
	"short": shortSHA,
	"code":  code,
	"gates": GateSummary,
}).Parse(bodyTemplate))

// Metadata is the hidden machine-readable block at the end of every
// promotion PR body; promobot reads it back for idempotency and audit.
type Metadata struct {
	Version  int              `json:"version"`
	Intent   string           `json:"intent"`
	Kind     intent.Kind      `json:"kind"`
	Repo     string           `json:"repo"`
	Env      string           `json:"env"`
	From     string           `json:"from,omitempty"`
	Services []MetadataChange `json:"services"`
	Ticket   string           `json:"ticket,omitempty"`
}

// MetadataChange is one service's move in the metadata block.
type MetadataChange struct {
	Name string `json:"name"`
	Path string `json:"path"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

const metaOpen, metaClose = "<!-- promobot:", " -->"

var metaRe = regexp.MustCompile(`<!-- promobot:(\{[^\n]*\}) -->`)

// ParseMetadata reads the metadata block back from a PR body.
func ParseMetadata(body string) (Metadata, bool) {
	m := metaRe.FindStringSubmatch(body)
	if m == nil {
		return Metadata{}, false
	}
	var md Metadata
	if err := json.Unmarshal([]byte(m[1]), &md); err != nil || md.Version != 1 {
		return Metadata{}, false
	}
	return md, true
}

type bodyData struct {
	P      *Plan
	In     intent.Intent
	From   string
	Closed int
	Meta   string

	// The changes and superseded proposals shown, and how many are not
	// (a body over GitHub's limit lists fewer).
	Changes        []Change
	MoreServices   int
	MoreFiles      int
	Supersedes     []Change
	MoreSupersedes int
}

// GitHub's limits on what promobot writes into a pull request: it refuses
// a title over 256 characters and a body over 65,536. The body is measured
// in bytes, which are never fewer than characters however GitHub counts
// them.
const (
	MaxTitleChars = 256
	MaxBodyBytes  = 65536
)

// RenderBody renders the PR body: changes table, source links, ticket,
// gates, required approvals, and the metadata block. A body over GitHub's
// limit lists only as many changes as fit and says how many more there
// are; the metadata block still lists every change. Only when the metadata
// alone cannot fit does it shrink to each service and its new tag (what
// reading it back needs); past that the promotion is too large for one PR.
func RenderBody(p *Plan, in intent.Intent, from string) (string, error) {
	md := Metadata{Version: 1, Intent: in.ID, Kind: in.Kind, Repo: p.Target.Repo, Env: p.Target.Env, From: from, Ticket: p.Ticket}
	for _, c := range p.Changes {
		md.Services = append(md.Services, MetadataChange{Name: c.Service, Path: c.Path, From: refString(c.Old), To: refString(c.New)})
	}
	body, err := renderWithin(p, in, from, md)
	if err != nil || body != "" {
		return body, err
	}
	short := md
	short.Services = nil
	seen := map[string]bool{}
	for _, c := range md.Services {
		if !seen[c.Name] {
			seen[c.Name] = true
			short.Services = append(short.Services, MetadataChange{Name: c.Name, To: c.To})
		}
	}
	if body, err = renderWithin(p, in, from, short); err != nil || body != "" {
		return body, err
	}
	return "", fate.Terminalf("the pull request body for %s cannot fit GitHub's limit of %d characters: "+
		"its metadata block alone, naming %d services, is longer", p.Target, MaxBodyBytes, len(short.Services))
}

// renderWithin renders the body with metadata md, listing as many changes
// as fit within MaxBodyBytes; "" when not even the metadata fits.
func renderWithin(p *Plan, in intent.Intent, from string, md Metadata) (string, error) {
	// json.Marshal escapes <, > and & so the block can never close the comment early.
	meta, err := json.Marshal(md)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	d := bodyData{P: p, In: in, From: from, Meta: metaOpen + string(meta) + metaClose}
	if len(d.Meta) > MaxBodyBytes {
		return "", nil
	}
	render := func(shown int) (string, error) {
		c := min(shown, len(p.Changes))
		d.Changes, d.MoreServices, d.MoreFiles = p.Changes[:c], 0, len(p.Changes)-c
		if d.MoreFiles > 0 {
			seen := map[string]bool{}
			for _, ch := range p.Changes[c:] {
				seen[ch.Service] = true
			}
			d.MoreServices = len(seen)
		}
		d.Supersedes = p.Supersedes[:min(shown, len(p.Supersedes))]
		d.MoreSupersedes = len(p.Supersedes) - len(d.Supersedes)
		var b bytes.Buffer
		if err := bodyTmpl.Execute(&b, d); err != nil {
			return "", fmt.Errorf("render body: %w", err)
		}
		return b.String(), nil
	}
	n := max(len(p.Changes), len(p.Supersedes))
	body, err := render(n)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// The most changes that fit: the body grows with each one listed.
	fit := ""
	lo, hi := 0, n-1
	for lo <= hi {
		mid := (lo + hi) / 2
		b, err := render(mid)
		if err != nil {
			return "", err
		}
		if len(b) <= MaxBodyBytes {
			fit, lo = b, mid+1
		} else {
			hi = mid - 1
		}
	}
	return fit, nil
}

// capTitle appends suffix to title, cutting title (marked "…") so that the
// whole stays within GitHub's limit; the suffix is kept whole.
func capTitle(title, suffix string) string {
	if utf8.RuneCountInString(title)+utf8.RuneCountInString(suffix) <= MaxTitleChars {
		return title + suffix
	}
	keep := MaxTitleChars - utf8.RuneCountInString(suffix) - 1
	if keep < 0 {
		return string([]rune(title + suffix)[:MaxTitleChars-1]) + "…"
	}
	return strings.TrimRight(string([]rune(title)[:keep]), " ") + "…" + suffix
}

func commitMessage(p *Plan, in intent.Intent) string {
	var b strings.Builder
	b.WriteString(p.Title)
	b.WriteString("\n\n")
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%s: %s %s -> %s\n", c.Path, c.Service, orNone(refString(c.Old)), refString(c.New))
	}
	b.WriteString("\n")
	if p.Ticket != "" {
		fmt.Fprintf(&b, "Ticket: %s\n", p.Ticket)
	}
	if in.Source.SHA != "" && in.Source.Repo != "" {
		fmt.Fprintf(&b, "Source: %s@%s\n", in.Source.Repo, in.Source.SHA)
	}
	fmt.Fprintf(&b, "Promobot-Intent: %s\n", in.ID)
	writeAuditTrailers(&b, p, in)
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// code renders s as inline markdown code, safe against backticks and pipes.
func code(s string) string {
	if s == "" {
		return "—"
	}
	s = strings.NewReplacer("`", "'", "|", "\\|", "\n", " ", "\r", " ").Replace(s)
	return "`" + s + "`"
}
