package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/history"
)

// Formats are the --output values.
var Formats = []string{"md", "csv", "json"}

// Write renders the report as md, csv or json.
func (rep Report) Write(w io.Writer, format string) error {
	var err error
	switch format {
	case "md":
		err = rep.writeMarkdown(w)
	case "csv":
		err = rep.writeCSV(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	default:
		return fmt.Errorf("unknown output %q (md, csv or json)", format)
	}
	if err != nil {
		return fmt.Errorf("write audit report: %w", err)
	}
	return nil
}

// How says in words how a change came: "promobot PR #7, rollback".
func (r Row) How() string {
	var s string
	switch r.Via {
	case history.ViaPR:
		s = "promobot PR"
		if r.PR != 0 {
			s += " #" + strconv.Itoa(r.PR)
		}
	case history.ViaDirect:
		s = "direct commit by promobot"
	default:
		s = "hand edit"
		if r.PR != 0 {
			s += " (PR #" + strconv.Itoa(r.PR) + ")"
		}
	}
	if r.Rollback {
		s += ", rollback"
	}
	return s
}

// requester is who asked: the ChatOps user, else the build, else the
// commit's author.
func (r Row) requester() string {
	switch {
	case r.Requester != "":
		return r.Requester
	case r.Source != "":
		repo, sha, _ := strings.Cut(r.Source, "@")
		return "build " + repo + "@" + short(sha)
	}
	return r.Author
}

func (r Row) gates() string {
	parts := make([]string, len(r.Gates))
	for i, g := range r.Gates {
		parts[i] = g.Name + " " + g.State
	}
	return strings.Join(parts, "; ")
}

func (rep Report) approvers(r Row) string {
	switch {
	case len(r.Approvers) > 0:
		return strings.Join(r.Approvers, ", ")
	case !rep.Approvals && r.PR != 0:
		return "unknown"
	}
	return ""
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (rep Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Promotion audit")
	if rep.Env != "" {
		b.WriteString(": " + md(rep.Env))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "Base branch at `%s`", short(rep.Head))
	if !rep.Since.IsZero() {
		fmt.Fprintf(&b, ", changes since %s UTC", stamp(rep.Since))
	}
	fmt.Fprintf(&b, ": %d change(s).", len(rep.Rows))
	if !rep.Approvals {
		b.WriteString(" Approvals unknown: read without GitHub access (use --github).")
	}
	if rep.Truncated {
		b.WriteString(" **The history read stops short: older changes are not listed.**")
	}
	b.WriteString("\n\n| Time (UTC) | Commit | Service | Env | File | Tag | How | Requester | Approvers | Ticket | Gates | Ran in previous env | Flags |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Rows {
		how := md(r.How())
		if r.PRURL != "" {
			how = "[" + how + "](" + r.PRURL + ")"
		}
		ticket := md(r.Ticket)
		if r.TicketURL != "" {
			ticket = "[" + ticket + "](" + r.TicketURL + ")"
		}
		prev := ""
		if r.PrevEnv != "" {
			prev = md(r.PrevEnv) + ": " + ran(r.PrevRan)
		}
		flags := ""
		if len(r.Flags) > 0 {
			flags = "⚠ " + strings.Join(r.Flags, ", ")
		}
		who := md(r.requester())
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s → %s | %s | %s | %s | %s | %s | %s | %s |\n",
			stamp(r.Time), short(r.Commit), md(r.Service), md(r.Env), md(r.Path), md(orNone(r.From)), md(orNone(r.To)), how,
			who, md(rep.approvers(r)), ticket, md(r.gates()), prev, flags)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// md keeps text people or files wrote inside its table cell and out of
// markup: pipes, backticks, brackets, angle brackets and line breaks.
func md(s string) string {
	return strings.NewReplacer("|", "\\|", "`", "'", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;",
		"\r", " ", "\n", " ", "*", "\\*", "_", "\\_").Replace(s)
}

func (rep Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"time", "commit", "service", "env", "path", "from", "to", "how", "pr", "pr_url", "rollback",
		"author", "requester", "approvers", "ticket", "ticket_url", "gates", "previous_env", "previous_env_ran", "flags", "source"}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		pr := ""
		if r.PR != 0 {
			pr = strconv.Itoa(r.PR)
		}
		prev := ""
		if r.PrevEnv != "" {
			prev = ran(r.PrevRan)
		}
		rec := []string{r.Time.UTC().Format(time.RFC3339), r.Commit, r.Service, r.Env, r.Path, r.From, r.To, r.How(), pr, r.PRURL,
			strconv.FormatBool(r.Rollback), r.Author, r.Requester, rep.approvers(r), r.Ticket, r.TicketURL, r.gates(),
			r.PrevEnv, prev, strings.Join(r.Flags, " "), r.Source}
		for i := range rec {
			rec[i] = cell(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell defuses a value a spreadsheet would run as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
