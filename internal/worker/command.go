package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
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

// errRefused is a decision, not a failure: the reply says why.
type refusal struct{ reason string }

func (r refusal) Error() string { return r.reason }

// command handles a ChatOps intent: authorise the commenter, react, work
// out the services, promote each, and answer with one reply.
func (w *Worker) command(ctx context.Context, in intent.Intent, log zerolog.Logger) (Result, error) {
	res := Result{Intent: in}
	// One comment is handled by one worker at a time, whatever the deliveries.
	ctx, release, err := w.acquire(ctx, fmt.Sprintf("comment/%s/%d", in.Repo, in.Source.CommentID), log)
	if err != nil {
		return res, err
	}
	defer release()

	inst, err := w.Clients.For(ctx, in.Repo, in.InstallationID)
	if err != nil {
		return res, err
	}
	if in.Kind == intent.KindReply {
		res.Outcome, res.Reason = Skipped, "answered the comment"
		return res, w.reply(ctx, inst, in, in.Reply)
	}
	var r refusal
	refuse := func(text string) (Result, error) {
		res.Outcome, res.Reason = Refused, r.reason
		log.Info().Str("requester", in.Requester).Str("reason", r.reason).Msg("command refused")
		return res, w.reply(ctx, inst, in, text)
	}
	// Permission first: nothing else is read for someone who may not promote.
	if err := w.permitted(ctx, inst.Client, in); errors.As(err, &r) {
		return refuse(fmt.Sprintf("@%s promobot did not act: %s", in.Requester, r.reason))
	} else if err != nil {
		return res, err
	}
	rs, _, err := w.checkout(ctx, inst, in, w.Rules())
	if err != nil {
		return res, err
	}
	subs, err := w.services(ctx, inst.Client, rs, in)
	if errors.As(err, &r) {
		return refuse(fmt.Sprintf("@%s %s", in.Requester, r.reason))
	} else if err != nil {
		return res, err
	}
	// Promoters are checked for exactly the services this command moves.
	if err := w.promoters(ctx, inst.Client, rs, in, subs); errors.As(err, &r) {
		return refuse(fmt.Sprintf("@%s promobot did not act: %s", in.Requester, r.reason))
	} else if err != nil {
		return res, err
	}
	if err := react(ctx, inst.Client, in); err != nil {
		return res, err
	}

	var lines []string
	var retry *retryAt
	for _, sub := range subs {
		r, err := w.promote(ctx, sub, log)
		var ra *retryAt
		switch {
		case errors.As(err, &ra):
			lines = append(lines, fmt.Sprintf("- ⏳ **%s**: %s; promobot retries then", sub.Services[0], ra.reason))
			retry = ra
		case err != nil:
			return res, err
		case r.PRURL != "":
			lines = append(lines, fmt.Sprintf("- ✅ **%s**: %s: %s", sub.Services[0], r.Reason, r.PRURL))
			res.PR, res.PRURL, res.Outcome = r.PR, r.PRURL, r.Outcome
		default:
			lines = append(lines, fmt.Sprintf("- **%s**: %s", sub.Services[0], r.Reason))
		}
		if res.Outcome == "" {
			res.Outcome = r.Outcome
		}
		res.Reason = r.Reason
	}
	verb := "promote"
	if in.Kind == intent.KindRollback {
		verb = "rollback"
	}
	text := fmt.Sprintf("@%s `/%s %s`:\n%s", in.Requester, verb, in.To, strings.Join(lines, "\n"))
	if err := w.reply(ctx, inst, in, text); err != nil {
		return res, err
	}
	if retry != nil {
		return res, retry
	}
	return res, nil
}

// permitted checks the commenter's repository permission: write, maintain
// or admin.
func (w *Worker) permitted(ctx context.Context, gh *github.Client, in intent.Intent) error {
	owner, name, _ := strings.Cut(in.Repo, "/")
	perm, _, err := gh.Repositories.GetPermissionLevel(ctx, owner, name, in.Requester)
	if isStatus(err, http.StatusNotFound) {
		return refusal{fmt.Sprintf("`%s` has no access to %s; promoting needs write permission", in.Requester, in.Repo)}
	}
	if err != nil {
		return fmt.Errorf("permission of %s: %w", in.Requester, err)
	}
	switch perm.GetPermission() {
	case "admin", "write", "maintain":
		return nil
	}
	return refusal{fmt.Sprintf("`%s` has %s permission on %s; promoting needs write, maintain or admin", in.Requester, orNone(perm.GetPermission()), in.Repo)}
}

// promoters checks, for each service the command moves, that the commenter
// is one of the target environment's promoters when it names any.
func (w *Worker) promoters(ctx context.Context, gh *github.Client, rs *rules.Rules, in intent.Intent, subs []intent.Intent) error {
	for _, sub := range subs {
		svc := sub.Services[0]
		env, ok := rs.Env(svc, in.To)
		if !ok {
			return refusal{fmt.Sprintf("`%s` has no environment `%s`", svc, in.To)}
		}
		if env.Promoters.Empty() {
			continue
		}
		ok, err := isPromoter(ctx, gh, env.Promoters, in.Requester)
		if err != nil {
			return err
		}
		if !ok {
			return refusal{fmt.Sprintf("only %s may promote %s to %s", principals(env.Promoters), svc, in.To)}
		}
	}
	return nil
}

func isPromoter(ctx context.Context, gh *github.Client, p rules.Principals, user string) (bool, error) {
	for _, u := range p.Users {
		if strings.EqualFold(u, user) {
			return true, nil
		}
	}
	for _, t := range p.Teams {
		org, slug, _ := strings.Cut(t, "/")
		m, _, err := gh.Teams.GetTeamMembershipBySlug(ctx, org, slug, user)
		if isStatus(err, http.StatusNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("membership of %s in %s: %w", user, t, err)
		}
		if m.GetState() == "active" {
			return true, nil
		}
	}
	return false, nil
}

func principals(p rules.Principals) string {
	var out []string
	for _, u := range p.Users {
		out = append(out, "@"+u)
	}
	for _, t := range p.Teams {
		out = append(out, "@"+t)
	}
	return strings.Join(out, ", ")
}

// react puts 👀 on the command: accepted, working on it.
func react(ctx context.Context, gh *github.Client, in intent.Intent) error {
	owner, name, _ := strings.Cut(in.Repo, "/")
	if _, _, err := gh.Reactions.CreateIssueCommentReaction(ctx, owner, name, in.Source.CommentID, "eyes"); err != nil {
		return fmt.Errorf("react to comment %d: %w", in.Source.CommentID, err)
	}
	return nil
}

// services turns a command into one intent per service. Without named
// services: on a merged promobot PR, the services and tags it promoted; on
// another PR, the services whose files it changed; on an issue, a refusal
// that lists the services.
func (w *Worker) services(ctx context.Context, gh *github.Client, rs *rules.Rules, in intent.Intent) ([]intent.Intent, error) {
	type want struct{ service, tag string }
	var wants []want
	for _, s := range in.Services {
		wants = append(wants, want{s, in.Tag})
	}
	if len(wants) == 0 {
		if in.Source.PRURL == "" {
			return nil, refusal{"name the services on an issue: " + serviceList(rs, in.Repo)}
		}
		owner, name, _ := strings.Cut(in.Repo, "/")
		pr, _, err := gh.PullRequests.Get(ctx, owner, name, in.Source.Issue)
		if err != nil {
			return nil, fmt.Errorf("get pull request #%d: %w", in.Source.Issue, err)
		}
		// Only promobot's own PRs carry metadata that counts: a contributor
		// could paste a block into any PR body.
		own := pr.GetUser().GetType() == "Bot" && strings.HasPrefix(pr.GetHead().GetRef(), "promobot/") &&
			strings.EqualFold(pr.GetHead().GetRepo().GetFullName(), in.Repo)
		if md, ok := planner.ParseMetadata(pr.GetBody()); ok && own && strings.EqualFold(md.Repo, in.Repo) {
			seen := map[string]bool{}
			for _, c := range md.Services {
				if !seen[c.Name] {
					seen[c.Name] = true
					tag := in.Tag
					if tag == "" && pr.GetMerged() {
						tag = c.To
					}
					wants = append(wants, want{c.Name, tag})
				}
			}
		} else {
			files, _, err := gh.PullRequests.ListFiles(ctx, owner, name, in.Source.Issue, &github.ListOptions{PerPage: 100})
			if err != nil {
				return nil, fmt.Errorf("list files of #%d: %w", in.Source.Issue, err)
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.GetFilename())
			}
			seen := map[string]bool{}
			for _, se := range rs.Touched(in.Repo, paths) {
				if !seen[se.Service.Name] {
					seen[se.Service.Name] = true
					wants = append(wants, want{se.Service.Name, in.Tag})
				}
			}
		}
		if len(wants) == 0 {
			return nil, refusal{"this pull request changes no service's files; name the services: " + serviceList(rs, in.Repo)}
		}
	}
	out := make([]intent.Intent, 0, len(wants))
	for _, wt := range wants {
		sub := in
		sub.Services, sub.Tag = []string{wt.service}, wt.tag
		if err := sub.Validate(); err != nil {
			return nil, refusal{err.Error()}
		}
		out = append(out, sub)
	}
	return out, nil
}

func serviceList(rs *rules.Rules, repo string) string {
	var names []string
	for _, s := range rs.ServicesIn(repo) {
		names = append(names, "`"+s.Name+"`")
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no services are configured for " + repo
	}
	return strings.Join(names, ", ")
}

// reply posts the one reply to the command's comment, or edits it when a
// retry or a redelivery has something new to say. The reply carries a
// hidden marker, so a reply posted just before a crash (or by a retried
// POST that had in fact succeeded) is found and edited, never repeated.
func (w *Worker) reply(ctx context.Context, inst *ghapp.Installation, in intent.Intent, text string) error {
	key := fmt.Sprintf("reply/%s/%d", in.Repo, in.Source.CommentID)
	marker := fmt.Sprintf("<!-- promobot-reply:%d -->", in.Source.CommentID)
	text += "\n\n" + marker
	prev, ok, err := w.Replies.GetReply(ctx, key)
	if err != nil {
		return fmt.Errorf("read reply state: %w", err)
	}
	owner, name, _ := strings.Cut(in.Repo, "/")
	if !ok {
		if prev, ok, err = findReply(ctx, inst.Client, in, marker); err != nil {
			return err
		}
	}
	switch {
	case ok && prev.Text == text:
		return nil
	case ok:
		if _, _, err := inst.Client.Issues.EditComment(ctx, owner, name, prev.CommentID, &github.IssueComment{Body: github.String(text)}); err != nil {
			return fmt.Errorf("edit reply %d: %w", prev.CommentID, err)
		}
		prev.Text = text
		return w.Replies.PutReply(ctx, key, prev)
	}
	c, _, err := inst.Client.Issues.CreateComment(ctx, owner, name, in.Source.Issue, &github.IssueComment{Body: github.String(text)})
	if err != nil {
		return fmt.Errorf("reply on #%d: %w", in.Source.Issue, err)
	}
	return w.Replies.PutReply(ctx, key, ReplyRecord{CommentID: c.GetID(), Text: text})
}

// findReply looks for promobot's reply among the issue's comments after the command.
func findReply(ctx context.Context, gh *github.Client, in intent.Intent, marker string) (ReplyRecord, bool, error) {
	owner, name, _ := strings.Cut(in.Repo, "/")
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < 10; page++ {
		cs, resp, err := gh.Issues.ListComments(ctx, owner, name, in.Source.Issue, opts)
		if err != nil {
			return ReplyRecord{}, false, fmt.Errorf("list comments of #%d: %w", in.Source.Issue, err)
		}
		for _, c := range cs {
			if c.GetUser().GetType() == "Bot" && strings.Contains(c.GetBody(), marker) {
				return ReplyRecord{CommentID: c.GetID(), Text: c.GetBody()}, true, nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return ReplyRecord{}, false, nil
}

func isStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}

func orNone(s string) string {
	if s == "" {
		return "no"
	}
	return s
}
