package webhook

import (
	"fmt"
	"strings"

	"github.com/promobot/promobot/internal/commands"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// issueCommentEvent is what classification reads of an issue_comment
// delivery; the names follow the payload's.
type issueCommentEvent struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   repoName     `json:"repository"`
	Comment      struct {
		ID      int64   `json:"id"`
		Body    string  `json:"body"`
		HTMLURL string  `json:"html_url"`
		User    account `json:"user"`
	} `json:"comment"`
	Sender account `json:"sender"`
	Issue  struct {
		Number      int64  `json:"number"`
		Title       string `json:"title"`
		PullRequest struct {
			HTMLURL string `json:"html_url"`
		} `json:"pull_request"`
	} `json:"issue"`
}

// account is a user object with the type that tells bots apart.
type account struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

// classifyComment: a ChatOps command in a new comment on an issue or pull
// request of a GitOps repository. Authorisation needs GitHub calls, so it
// is the worker's job; here the command is only parsed. Help and parse
// errors become reply intents: the webhook itself never calls GitHub.
func classifyComment(rs *rules.Rules, d Delivery, ev *issueCommentEvent, c *classification) error {
	action, repo, body := ev.Action, ev.Repository.FullName, ev.Comment.Body
	user, sender := ev.Comment.User, ev.Sender
	commentID, number := ev.Comment.ID, ev.Issue.Number
	c.setInstallation(ev.Installation.ID)
	c.action, c.repo = action, repo
	switch {
	case action != "created":
		c.note = "comment " + action + ": only new comments are commands"
		return nil
	case isBot(user.Login, user.Type) || isBot(sender.Login, sender.Type):
		c.note = "comment by a bot"
		return nil
	case len(rs.ServicesIn(repo)) == 0 && !generates(rs, repo):
		c.note = "not a gitops repository"
		return nil
	}
	// A command may name generated services; the webhook never lists the
	// repository, so they are guessed from the names (the worker checks).
	rs = guessNames(rs, commandWords(body))
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
	case !validLogin(user.Login):
		return fmt.Errorf("%w: commenter %q", ErrInvalid, user.Login)
	}
	in := intent.Intent{
		ID: intent.MsgID(d.ID, 0), DeliveryID: d.ID, Event: d.Event, InstallationID: c.installation,
		Repo: repo, Requester: user.Login, CreatedAt: d.Received,
		Source: intent.SourceRef{
			Repo: repo, Issue: int(number), CommentID: commentID, CommentURL: ev.Comment.HTMLURL,
			Message: truncate(ev.Issue.Title, maxMessage), PRURL: ev.Issue.PullRequest.HTMLURL,
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
