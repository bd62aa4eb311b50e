package chatops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
)

// maxCommentPages bounds the search for a reply among an issue's comments.
const maxCommentPages = 10

// Reply posts the one reply to the command's comment, or edits it when a
// retry or a redelivery has something new to say. The reply carries a
// hidden marker, so a reply posted just before a crash, or by a POST whose
// answer was lost, is found and edited, never repeated: the transport does
// not replay a comment's POST (ghretry.Replayable), and a POST that may
// have gone through is looked for before it is sent again.
func (c *Commands) Reply(ctx context.Context, gh GitHub, in intent.Intent, text string) error {
	key := fmt.Sprintf("reply/%s/%d", in.Repo, in.Source.CommentID)
	marker := fmt.Sprintf("<!-- promobot-reply:%d -->", in.Source.CommentID)
	text += "\n\n" + marker
	prev, ok, err := c.Replies.GetReply(ctx, key)
	if err != nil {
		return fmt.Errorf("read reply state: %w", err)
	}
	if !ok {
		if prev, ok, err = findReply(ctx, gh, in, marker, c.ours); err != nil {
			return err
		}
	}
	switch {
	case ok && prev.Text == text:
		return nil
	case ok:
		if err := gh.EditComment(ctx, in.Repo, prev.CommentID, text); err != nil {
			return fmt.Errorf("edit reply %d: %w", prev.CommentID, ghretry.Fate(err, time.Now()))
		}
		prev.Text = text
		return c.remember(ctx, key, prev)
	}
	id, err := gh.CreateComment(ctx, in.Repo, in.Source.Issue, text)
	if err != nil && ghretry.MayHaveTakenEffect(err) {
		// The answer was lost, not the reply perhaps: look before a retry
		// posts it again.
		if prev, ok, ferr := findReply(ctx, gh, in, marker, c.ours); ferr != nil {
			c.Log.Warn().Err(ferr).Str("repo", in.Repo).Int("issue", in.Source.Issue).Msg("reply: cannot tell whether the failed post went through")
		} else if ok {
			c.Log.Info().Str("repo", in.Repo).Int("issue", in.Source.Issue).Int64("reply", prev.CommentID).
				Msg("reply: the failed post went through")
			if prev.Text != text {
				// An older reply whose record was lost: ours is newer.
				if err := gh.EditComment(ctx, in.Repo, prev.CommentID, text); err != nil {
					return fmt.Errorf("edit reply %d: %w", prev.CommentID, ghretry.Fate(err, time.Now()))
				}
				prev.Text = text
			}
			return c.remember(ctx, key, prev)
		}
	}
	if err != nil {
		return fmt.Errorf("reply on #%d: %w", in.Source.Issue, ghretry.Fate(err, time.Now()))
	}
	return c.remember(ctx, key, ReplyRecord{CommentID: id, Text: text})
}

func (c *Commands) remember(ctx context.Context, key string, r ReplyRecord) error {
	if err := c.Replies.PutReply(ctx, key, r); err != nil {
		return fmt.Errorf("remember reply %d: %w", r.CommentID, err)
	}
	return nil
}

// findReply looks for promobot's reply among the issue's comments: a
// comment by promobot's own login that carries the marker (anyone can
// quote a marker).
func findReply(ctx context.Context, gh GitHub, in intent.Intent, marker string, ours func(context.Context) (func(login, userType string) bool, error)) (ReplyRecord, bool, error) {
	mine, err := ours(ctx)
	if err != nil {
		return ReplyRecord{}, false, err
	}
	for page, n := 0, 0; n < maxCommentPages; n++ {
		cs, next, err := gh.IssueComments(ctx, in.Repo, in.Source.Issue, page)
		if err != nil {
			return ReplyRecord{}, false, fmt.Errorf("list comments of #%d: %w", in.Source.Issue, ghretry.Fate(err, time.Now()))
		}
		for _, c := range cs {
			if mine(c.User, c.UserType) && strings.Contains(c.Body, marker) {
				return ReplyRecord{CommentID: c.ID, Text: c.Body}, true, nil
			}
		}
		if next == 0 {
			break
		}
		page = next
	}
	return ReplyRecord{}, false, nil
}
