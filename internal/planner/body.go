package planner

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"

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
}

// RenderBody renders the PR body: changes table, source links, ticket,
// gates, required approvals, and the metadata block.
func RenderBody(p *Plan, in intent.Intent, from string) (string, error) {
	md := Metadata{Version: 1, Intent: in.ID, Kind: in.Kind, Repo: p.Target.Repo, Env: p.Target.Env, From: from, Ticket: p.Ticket}
	for _, c := range p.Changes {
		md.Services = append(md.Services, MetadataChange{Name: c.Service, Path: c.Path, From: refString(c.Old), To: refString(c.New)})
	}
	// json.Marshal escapes <, > and & so the block can never close the comment early.
	meta, err := json.Marshal(md)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	var b bytes.Buffer
	if err := bodyTmpl.Execute(&b, bodyData{P: p, In: in, From: from, Meta: metaOpen + string(meta) + metaClose}); err != nil {
		return "", fmt.Errorf("render body: %w", err)
	}
	return b.String(), nil
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
