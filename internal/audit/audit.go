// Package audit builds the compliance report `promobot audit` prints: one
// row per change of an environment's target file on the base branch, with
// how it came, who asked, who approved, its change ticket, the gates
// promobot recorded, how long the tag had run in the environment before,
// and flags for what an auditor must look at. It reads a history.History;
// approvals, which only GitHub knows, come through Reviews.
package audit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

// Reviews is the one GitHub call the report makes: who approved a pull
// request (each reviewer's latest review being an approval).
type Reviews interface {
	Approvers(ctx context.Context, repo string, pr int) ([]string, error)
}

// The flags a row may carry.
const (
	// FlagBypassed: the change did not come through promobot.
	FlagBypassed = "bypassed-promobot"
	// FlagNoApproval: nobody approved it (a merged PR without an approving
	// review, or a hand edit into an environment that asks for reviewers).
	FlagNoApproval = "no-approval"
	// FlagNoTicket: the environment requires a ticket and none is recorded.
	FlagNoTicket = "no-ticket"
	// FlagSkipped: the tag had never run in the environment before.
	FlagSkipped = "skipped-environment"
)

// MaxRows bounds a report; a longer one says it was cut.
const MaxRows = 100_000

// Options choose the rows.
type Options struct {
	Env   string    // only this environment ("" every one)
	Since time.Time // only changes at or after (zero: all)
	// Reviews answers approvals; nil leaves them unknown (no GitHub access).
	Reviews Reviews
	// WebURL is GitHub's web address for pull request links
	// ("https://github.com" when empty).
	WebURL string
}

// Report is the whole report.
type Report struct {
	Env       string    `json:"env,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	Head      string    `json:"head"`
	Rows      []Row     `json:"rows"`
	Truncated bool      `json:"truncated,omitempty"` // the history walked, or MaxRows, stopped short
	Approvals bool      `json:"approvalsKnown"`      // false: read without GitHub access
}

// Row is one change.
type Row struct {
	Time      time.Time      `json:"time"`
	Commit    string         `json:"commit"`
	Service   string         `json:"service"`
	Env       string         `json:"env"`
	Path      string         `json:"path"`
	From      string         `json:"from,omitempty"`
	To        string         `json:"to,omitempty"`
	Via       history.Via    `json:"via"`
	PR        int            `json:"pr,omitempty"`
	PRURL     string         `json:"prUrl,omitempty"`
	Kind      string         `json:"kind,omitempty"`     // promote, update, rollback
	Rollback  bool           `json:"rollback,omitempty"` // back to a tag the environment ran before
	Author    string         `json:"author"`
	Requester string         `json:"requester,omitempty"`
	Source    string         `json:"source,omitempty"` // the build that asked: repo@sha
	Approvers []string       `json:"approvers,omitempty"`
	Ticket    string         `json:"ticket,omitempty"`
	TicketURL string         `json:"ticketUrl,omitempty"`
	Gates     []history.Gate `json:"gates,omitempty"`
	PrevEnv   string         `json:"previousEnv,omitempty"`
	// PrevRan is how long the tag had run in PrevEnv when it came here;
	// negative when it never had. PrevRanSeconds is the same in seconds
	// (-1: never).
	PrevRan        time.Duration `json:"-"`
	PrevRanSeconds int64         `json:"previousEnvRanSeconds"`
	Flags          []string      `json:"flags,omitempty"`
}

// Build makes the report from h, newest change first.
func Build(ctx context.Context, h *history.History, rs *rules.Rules, opt Options) (Report, error) {
	web := strings.TrimRight(opt.WebURL, "/")
	if web == "" {
		web = "https://github.com"
	}
	rep := Report{Env: opt.Env, Since: opt.Since, Head: h.Head, Rows: []Row{}, Truncated: h.Truncated, Approvals: opt.Reviews != nil}
	// first[service, env, ref]: the times ref started running there, oldest first.
	first := map[[3]string][]time.Time{}
	for i := len(h.Changes) - 1; i >= 0; i-- {
		c := h.Changes[i]
		k := [3]string{c.Service, c.Env, c.To}
		first[k] = append(first[k], c.Time)
	}
	approvers := map[[2]any][]string{}
	for _, c := range h.Changes {
		if opt.Env != "" && c.Env != opt.Env {
			continue
		}
		if !opt.Since.IsZero() && c.Time.Before(opt.Since) {
			break // newest first: the rest are older
		}
		if len(rep.Rows) == MaxRows {
			rep.Truncated = true
			break
		}
		svc, ok := rs.Service(c.Service)
		if !ok {
			continue
		}
		settings, _ := rs.Env(c.Service, c.Env)
		r := Row{Time: c.Time, Commit: c.Commit, Service: c.Service, Env: c.Env, Path: c.Path, From: c.From, To: c.To,
			Via: c.Via, PR: c.PR, Kind: c.Kind, Author: c.Author.Name, Requester: c.Requester, Source: c.Source, Ticket: c.Ticket,
			Gates: c.Gates, PrevRan: -1}
		if r.PR != 0 {
			r.PRURL = fmt.Sprintf("%s/%s/pull/%d", web, svc.Repo, r.PR)
		}
		if r.Ticket != "" && rs.TicketValid(c.Service, c.Env, r.Ticket) {
			r.TicketURL, _ = rs.TicketURL(c.Service, c.Env, r.Ticket) // a valid key renders; no URL otherwise
		}
		r.Rollback = r.Kind == "rollback" || (c.To != "" && ranBefore(first[[3]string{c.Service, c.Env, c.To}], c.Time))
		if prev, ok := rs.Prev(svc, c.Env); ok {
			r.PrevEnv = prev
			if t, ok := firstAtOrBefore(first[[3]string{c.Service, prev, c.To}], c.Time); ok {
				r.PrevRan = c.Time.Sub(t)
			}
		}
		if opt.Reviews != nil && r.PR != 0 {
			k := [2]any{svc.Repo, r.PR}
			a, seen := approvers[k]
			if !seen {
				var err error
				if a, err = opt.Reviews.Approvers(ctx, svc.Repo, r.PR); err != nil {
					return Report{}, fmt.Errorf("audit: reviews of %s#%d: %w", svc.Repo, r.PR, err)
				}
				approvers[k] = a
			}
			r.Approvers = a
		}
		// Flags.
		if r.Via == history.ViaHand {
			r.Flags = append(r.Flags, FlagBypassed)
		}
		switch {
		case opt.Reviews != nil && r.PR != 0 && len(r.Approvers) == 0:
			r.Flags = append(r.Flags, FlagNoApproval)
		case r.Via == history.ViaHand && r.PR == 0 && !settings.Reviewers.Empty():
			r.Flags = append(r.Flags, FlagNoApproval)
		}
		if settings.Ticket.Required && r.Ticket == "" {
			r.Flags = append(r.Flags, FlagNoTicket)
		}
		if r.PrevEnv != "" && r.PrevRan < 0 && r.To != "" {
			r.Flags = append(r.Flags, FlagSkipped)
		}
		r.PrevRanSeconds = -1
		if r.PrevRan >= 0 {
			r.PrevRanSeconds = int64(r.PrevRan / time.Second)
		}
		rep.Rows = append(rep.Rows, r)
	}
	return rep, nil
}

// ranBefore reports whether one of ts is before t.
func ranBefore(ts []time.Time, t time.Time) bool {
	return len(ts) > 0 && ts[0].Before(t)
}

// firstAtOrBefore is the latest start of ts at or before t: how long the
// tag had been running then (ts oldest first).
func firstAtOrBefore(ts []time.Time, t time.Time) (time.Time, bool) {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(t) })
	if i == 0 {
		return time.Time{}, false
	}
	return ts[i-1], true
}

// ParseSince reads --since: a duration back from now ("30d", "36h") or a
// date ("2026-01-31") or time (RFC 3339).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("--since %.20q…: too long", s)
	}
	if d, err := rules.ParseLagDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	// At most 20 characters of the input are quoted: quoting may make each
	// byte four characters, and an error need not echo all of it.
	return time.Time{}, fmt.Errorf("--since %.20q: want a duration back from now (30d, 36h) or a date (2026-01-31)", s)
}

// ran renders PrevRan for people.
func ran(d time.Duration) string {
	switch {
	case d < 0:
		return "never"
	case d < time.Minute:
		return "0m"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
}
