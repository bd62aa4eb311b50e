package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/commands"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// Slots of an issue_comment delivery.
const (
	cCommentID = eSlots + iota
	cBody
	cCommentHTML
	cUserLogin
	cUserType
	cSenderLogin
	cSenderType
	cIssueNumber
	cIssueTitle
	cPullHTML
)

var commentSpec = newSpec(append(envelopeFields(),
	field{key: "repository", sub: []field{{key: "full_name", slot: eRepo}}},
	field{key: "comment", sub: []field{
		{key: "id", slot: cCommentID},
		{key: "body", slot: cBody},
		{key: "html_url", slot: cCommentHTML},
		{key: "user", sub: []field{{key: "login", slot: cUserLogin}, {key: "type", slot: cUserType}}},
	}},
	field{key: "sender", sub: []field{{key: "login", slot: cSenderLogin}, {key: "type", slot: cSenderType}}},
	field{key: "issue", sub: []field{
		{key: "number", slot: cIssueNumber},
		{key: "title", slot: cIssueTitle},
		{key: "pull_request", sub: []field{{key: "html_url", slot: cPullHTML}}},
	}},
))

// classifyComment: a ChatOps command in a new comment on an issue or PR of
// a GitOps repository (SPEC §5). Authorisation needs GitHub calls, so it is
// the worker's job; here the command is only parsed. Help and parse errors
// become reply intents: the webhook itself never calls GitHub.
func classifyComment(rs *rules.Rules, d Delivery, p *captured, c *classification) error {
	action, installation, repo := p.str(eAction), p.int64(eInstallation), p.str(eRepo)
	commentID, body, commentURL := p.int64(cCommentID), p.str(cBody), p.str(cCommentHTML)
	user, userType := p.str(cUserLogin), p.str(cUserType)
	sender, senderType := p.str(cSenderLogin), p.str(cSenderType)
	number, title, pullURL := p.int64(cIssueNumber), p.str(cIssueTitle), p.str(cPullHTML)
	if err := p.err(); err != nil {
		return err
	}
	c.setInstallation(installation)
	c.action, c.repo = action, repo
	switch {
	case action != "created":
		c.note = "comment " + action + ": only new comments are commands"
		return nil
	case isBot(user, userType) || isBot(sender, senderType):
		c.note = "comment by a bot"
		return nil
	case len(rs.ServicesIn(repo)) == 0 && !generates(rs, repo):
		c.note = "not a gitops repository"
		return nil
	}
	// A command may name generated services; the webhook never lists the
	// repository, so they are guessed from the names (the worker checks).
	rs, err := rs.ForNames(context.Background(), commandWords(body))
	if err != nil {
		return fmt.Errorf("%w: generators: %w", ErrInvalid, err)
	}
	res := commands.Parse(body, rs, repo)
	if res.Command == nil && res.Reply == nil {
		c.note = "no command"
		return nil
	}
	switch {
	case !intent.ValidRepo(repo):
		return fmt.Errorf("%w: repository %q", ErrInvalid, repo)
	case commentID <= 0 || number <= 0 || number > 1<<31-1:
		return fmt.Errorf("%w: comment %d on #%d", ErrInvalid, commentID, number)
	case !validLogin(user):
		return fmt.Errorf("%w: commenter %q", ErrInvalid, user)
	}
	in := intent.Intent{
		ID: intent.MsgID(d.ID, 0), DeliveryID: d.ID, Event: d.Event, InstallationID: c.installation,
		Repo: repo, Requester: user, CreatedAt: d.Received,
		Source: intent.SourceRef{
			Repo: repo, Issue: int(number), CommentID: commentID, CommentURL: commentURL,
			Message: truncate(title, maxMessage), PRURL: pullURL,
		},
	}
	if res.Reply != nil { // help, or a command that did not parse
		in.Kind, in.Reply = intent.KindReply, res.Reply.Text
		c.intents = append(c.intents, in)
		return nil
	}
	cmd := res.Command
	in.Kind = intent.KindPromote
	if cmd.Kind == commands.Rollback {
		in.Kind = intent.KindRollback
	}
	in.To, in.Services, in.Tag, in.Ticket = cmd.Env, cmd.Services, cmd.Tag, cmd.Ticket
	c.intents = append(c.intents, in)
	return nil
}

// commandWords returns the words of the comment's command-looking lines
// (bounded), as candidate service names.
func commandWords(body string) []string {
	if len(body) > commands.MaxBody {
		body = body[:commands.MaxBody]
	}
	var out []string
	for _, line := range strings.Split(body, "\n") {
		l := strings.ToLower(strings.TrimSpace(line))
		if !strings.HasPrefix(l, "/promote") && !strings.HasPrefix(l, "/rollback") {
			continue
		}
		for _, w := range strings.Fields(l)[1:] {
			if len(out) == commands.MaxServices || strings.HasPrefix(w, "-") {
				break
			}
			out = append(out, w)
		}
	}
	return out
}

// isBot: GitHub marks App and bot accounts with type Bot and a "[bot]" login.
func isBot(login, typ string) bool {
	return strings.EqualFold(typ, "Bot") || strings.HasSuffix(strings.ToLower(login), "[bot]")
}

// validLogin is GitHub's login shape (alphanumerics and single hyphens).
func validLogin(s string) bool {
	if s == "" || len(s) > 39 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}
