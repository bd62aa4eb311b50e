// Package chatops answers the commands people type in pull request and
// issue comments ("/promote prod"): it checks that the commenter may
// promote, works out which services the command moves, has the caller
// promote each, and keeps exactly one reply per command up to date.
//
// The caller holds the comment's lease, so one command is handled by one
// worker at a time whatever the deliveries.
package chatops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// ReplyRecord remembers the one reply promobot posted to a comment, so a
// redelivered or retried command edits it instead of posting another.
type ReplyRecord struct {
	CommentID int64  `json:"commentId"`
	Text      string `json:"text"`
}

// Replies stores ReplyRecords by key.
type Replies interface {
	GetReply(ctx context.Context, key string) (ReplyRecord, bool, error)
	PutReply(ctx context.Context, key string, r ReplyRecord) error
}

// Promotion is what promoting one service did, or what a whole command did.
type Promotion struct {
	Outcome string // the worker's outcome words: "committed", "opened", "updated", "skipped", "refused", "delayed"
	Reason  string
	PR      int
	PRURL   string
	// RetryAt is set when a gate closed and opens at this time (the reply
	// says "promobot retries then").
	RetryAt time.Time
}

// The outcomes ChatOps decides itself; every other one comes from Promote.
const (
	outcomeSkipped = "skipped"
	outcomeRefused = "refused"
)

// Promote promotes one service (in.Services has exactly one entry).
type Promote func(ctx context.Context, in intent.Intent) (Promotion, error)

// Commands handles ChatOps commands. Replies is required.
type Commands struct {
	Replies Replies
	Log     zerolog.Logger
	// Self returns the login promobot acts as on GitHub (ghapp's
	// Clients.Identity): its replies and its pull requests are the ones by
	// that login, whatever the account type ("User" for a personal access
	// token). Required in production. nil recognises any Bot account, which
	// only tests that do not care may rely on: another bot quoting a marker
	// would pass for promobot.
	Self func(ctx context.Context) (login string, err error)
}

// ours returns whether an account (login and type) is promobot.
func (c *Commands) ours(ctx context.Context) (func(login, userType string) bool, error) {
	if c.Self == nil {
		return func(_, userType string) bool { return userType == "Bot" }, nil
	}
	self, err := c.Self(ctx)
	if err != nil {
		return nil, fmt.Errorf("promobot's own login: %w", err)
	}
	return func(login, _ string) bool { return strings.EqualFold(login, self) }, nil
}

// Handle runs one command intent (in.Command() is true): authorise the
// commenter, work out the services, react, promote each, and answer with
// one reply. A KindReply intent is only answered. loadRules returns the
// repository's rules with generators expanded; it is called after the
// permission check, so nothing is fetched for someone who may not promote.
//
// A refusal is an answer, not a failure: Handle replies and returns
// Outcome "refused" with the reason. An error from promote is returned
// wrapped, with its fate unchanged.
func (c *Commands) Handle(ctx context.Context, gh GitHub, in intent.Intent, loadRules func(context.Context) (*rules.Rules, error), promote Promote) (Promotion, error) {
	if in.Kind == intent.KindReply {
		return Promotion{Outcome: outcomeSkipped, Reason: "answered the comment"}, c.Reply(ctx, gh, in, in.Reply)
	}
	// Permission first: nothing else is read for someone who may not promote.
	why, err := permitted(ctx, gh, in)
	if err != nil {
		return Promotion{}, err
	}
	if why != "" {
		return c.refuse(ctx, gh, in, why, "promobot did not act: "+why)
	}
	rs, err := loadRules(ctx)
	if err != nil {
		return Promotion{}, err
	}
	subs, why, err := c.services(ctx, gh, rs, in)
	if err != nil {
		return Promotion{}, err
	}
	if why != "" {
		return c.refuse(ctx, gh, in, why, why)
	}
	// Promoters are checked for exactly the services this command moves.
	if why, err = promoters(ctx, gh, rs, in, subs); err != nil {
		return Promotion{}, err
	}
	if why != "" {
		return c.refuse(ctx, gh, in, why, "promobot did not act: "+why)
	}
	if err := react(ctx, gh, in); err != nil {
		return Promotion{}, err
	}
	return c.promoteAll(ctx, gh, in, subs, promote)
}

// refuse answers a command that will not be carried out: why goes to the
// logs and the result, text (addressed to the requester) to the reply.
func (c *Commands) refuse(ctx context.Context, gh GitHub, in intent.Intent, why, text string) (Promotion, error) {
	c.Log.Info().Str("intent", in.ID).Str("repo", in.Repo).Int64("comment", in.Source.CommentID).
		Str("requester", in.Requester).Str("reason", why).Msg("command refused")
	return Promotion{Outcome: outcomeRefused, Reason: why}, c.Reply(ctx, gh, in, fmt.Sprintf("@%s %s", in.Requester, text))
}

// promoteAll promotes each service and sums up: one reply line per
// service; the outcome, PR and link of the last service that has a PR
// (else the first service's outcome); the last reason; and the latest time
// a closed gate opens.
func (c *Commands) promoteAll(ctx context.Context, gh GitHub, in intent.Intent, subs []intent.Intent, promote Promote) (Promotion, error) {
	var sum Promotion
	var lines []string
	for _, sub := range subs {
		svc := sub.Services[0]
		p, err := promote(ctx, sub)
		if err != nil {
			return sum, fmt.Errorf("promote %s: %w", svc, err)
		}
		switch {
		case !p.RetryAt.IsZero():
			lines = append(lines, fmt.Sprintf("- ⏳ **%s**: %s; promobot retries then", svc, p.Reason))
			if p.RetryAt.After(sum.RetryAt) {
				sum.RetryAt = p.RetryAt
			}
		case p.PRURL != "":
			lines = append(lines, fmt.Sprintf("- ✅ **%s**: %s: %s", svc, p.Reason, p.PRURL))
			sum.PR, sum.PRURL, sum.Outcome = p.PR, p.PRURL, p.Outcome
		default:
			lines = append(lines, fmt.Sprintf("- **%s**: %s", svc, p.Reason))
		}
		if sum.Outcome == "" {
			sum.Outcome = p.Outcome
		}
		sum.Reason = p.Reason
	}
	verb := "promote"
	if in.Kind == intent.KindRollback {
		verb = "rollback"
	}
	text := fmt.Sprintf("@%s `/%s %s`:\n%s", in.Requester, verb, in.To, strings.Join(lines, "\n"))
	return sum, c.Reply(ctx, gh, in, text)
}
