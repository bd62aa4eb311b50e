package chatops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/chatops/chatopstest"
	"github.com/promobot/promobot/internal/fate"
)

const (
	marker   = "\n\n<!-- promobot-reply:7 -->"
	replyKey = "reply/acme/gitops/7"
)

func TestReply(t *testing.T) {
	others := func(n int) []chatops.Comment {
		var cs []chatops.Comment
		for i := range n {
			cs = append(cs, chatops.Comment{ID: int64(100 + i), Body: fmt.Sprintf("comment %d", i), UserType: "User"})
		}
		return cs
	}
	for _, tc := range []struct {
		name     string
		stored   map[string]chatops.ReplyRecord
		comments []chatops.Comment
		perPage  int

		wantCalls  []string
		wantBodies []string
		wantStored map[string]chatops.ReplyRecord // nil: as stored
		self       string                         // promobot's login; default chatopstest.Login
	}{
		{
			name:       "the first reply is posted and remembered",
			wantCalls:  []string{"comments 5 0", "create 5"},
			wantBodies: []string{"done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 1001, Text: "done" + marker}},
		},
		{
			name:       "a remembered reply is edited",
			stored:     map[string]chatops.ReplyRecord{replyKey: {CommentID: 100, Text: "working" + marker}},
			comments:   []chatops.Comment{{ID: 100, Body: "working" + marker, User: chatopstest.Login, UserType: "Bot"}},
			wantCalls:  []string{"edit 100"},
			wantBodies: []string{"done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 100, Text: "done" + marker}},
		},
		{
			name:       "the same text again is no call",
			stored:     map[string]chatops.ReplyRecord{replyKey: {CommentID: 100, Text: "done" + marker}},
			comments:   []chatops.Comment{{ID: 100, Body: "done" + marker, User: chatopstest.Login, UserType: "Bot"}},
			wantCalls:  nil,
			wantBodies: []string{"done" + marker},
		},
		{
			name: "a forgotten reply is found by its marker, past the first page, and edited",
			comments: append(others(3),
				chatops.Comment{ID: 200, Body: "quoting" + marker, UserType: "User"},
				chatops.Comment{ID: 201, Body: "working" + marker, User: chatopstest.Login, UserType: "Bot"}),
			perPage:    2,
			wantCalls:  []string{"comments 5 0", "comments 5 2", "comments 5 3", "edit 201"},
			wantBodies: []string{"comment 0", "comment 1", "comment 2", "quoting" + marker, "done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 201, Text: "done" + marker}},
		},
		{
			name:       "another bot quoting the marker is not promobot",
			comments:   []chatops.Comment{{ID: 300, Body: "> working" + marker, User: "other[bot]", UserType: "Bot"}},
			wantCalls:  []string{"comments 5 0", "create 5"},
			wantBodies: []string{"> working" + marker, "done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 1002, Text: "done" + marker}},
		},
		{
			name:       "with a personal access token, promobot's reply is a user's, found by its login and edited",
			self:       "release-bot",
			comments:   []chatops.Comment{{ID: 201, Body: "working" + marker, User: "release-bot", UserType: "User"}},
			wantCalls:  []string{"comments 5 0", "edit 201"},
			wantBodies: []string{"done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 201, Text: "done" + marker}},
		},
		{
			name:       "a forgotten reply that says the same is left alone",
			comments:   []chatops.Comment{{ID: 201, Body: "done" + marker, User: chatopstest.Login, UserType: "Bot"}},
			wantCalls:  []string{"comments 5 0"},
			wantBodies: []string{"done" + marker},
		},
		{
			name:       "the search gives up after ten pages",
			comments:   append(others(10), chatops.Comment{ID: 201, Body: "working" + marker, User: chatopstest.Login, UserType: "Bot"}),
			perPage:    1,
			wantCalls:  []string{"comments 5 0", "comments 5 2", "comments 5 3", "comments 5 4", "comments 5 5", "comments 5 6", "comments 5 7", "comments 5 8", "comments 5 9", "comments 5 10", "create 5"},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 1012, Text: "done" + marker}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self := tc.self
			if self == "" {
				self = chatopstest.Login
			}
			gh := &chatopstest.GitHub{Comments: tc.comments, PerPage: tc.perPage, Self: self}
			rs := &chatopstest.Replies{Records: tc.stored}
			c := &chatops.Commands{Replies: rs, Log: zerolog.Nop(), Self: chatopstest.Identity(self)}
			if err := c.Reply(context.Background(), gh, command("prod"), "done"); err != nil {
				t.Fatalf("Reply: %v", err)
			}
			if !reflect.DeepEqual(gh.Calls, tc.wantCalls) {
				t.Errorf("calls:\n%q\nwant\n%q", gh.Calls, tc.wantCalls)
			}
			if tc.wantBodies != nil && !reflect.DeepEqual(gh.Bodies(), tc.wantBodies) {
				t.Errorf("comments:\n%q\nwant\n%q", gh.Bodies(), tc.wantBodies)
			}
			want := tc.wantStored
			if want == nil {
				want = tc.stored
			}
			if !reflect.DeepEqual(rs.Records, want) {
				t.Errorf("stored %+v, want %+v", rs.Records, want)
			}
		})
	}
}

func TestReplyFails(t *testing.T) {
	reset := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rateLimit := &github.RateLimitError{Rate: github.Rate{Reset: github.Timestamp{Time: reset}}, Response: &http.Response{StatusCode: http.StatusForbidden}}
	stored := map[string]chatops.ReplyRecord{replyKey: {CommentID: 100, Text: "working" + marker}}
	storeDown := errors.New("store down")
	for _, tc := range []struct {
		name     string
		stored   map[string]chatops.ReplyRecord
		storeErr error
		fail     map[string]error
		wantErr  string
		wantFate fate.Kind
		wantAt   time.Time
	}{
		{name: "the store cannot be read", storeErr: storeDown, wantErr: "read reply state: store down", wantFate: fate.Retryable},
		{name: "the comments cannot be listed", fail: map[string]error{"comments": rateLimit}, wantErr: "list comments of #5", wantFate: fate.RetryAt, wantAt: reset.Add(time.Second)},
		{name: "the reply cannot be posted", fail: map[string]error{"create": chatopstest.Status(http.StatusUnprocessableEntity)}, wantErr: "reply on #5: 422", wantFate: fate.Terminal},
		{name: "the reply cannot be edited", stored: stored, fail: map[string]error{"edit": chatopstest.Status(http.StatusBadGateway)}, wantErr: "edit reply 100: 502", wantFate: fate.Retryable},
		{name: "the edited reply cannot be remembered", stored: stored, fail: map[string]error{"put": storeDown}, wantErr: "remember reply 100: store down", wantFate: fate.Retryable},
		{name: "the posted reply cannot be remembered", fail: map[string]error{"put": storeDown}, wantErr: "remember reply 1001: store down", wantFate: fate.Retryable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := &chatopstest.GitHub{Fail: tc.fail, Comments: []chatops.Comment{{ID: 100, Body: "working" + marker, User: chatopstest.Login, UserType: "Bot"}}}
			if tc.stored == nil {
				gh.Comments = nil
			}
			rs := &chatopstest.Replies{Records: tc.stored, Err: tc.storeErr}
			var store chatops.Replies = rs
			if tc.fail["put"] != nil {
				store = failingPut{rs, tc.fail["put"]}
			}
			c := &chatops.Commands{Replies: store, Log: zerolog.Nop(), Self: chatopstest.Identity(chatopstest.Login)}
			err := c.Reply(context.Background(), gh, command("prod"), "done")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Reply error = %v, want %q", err, tc.wantErr)
			}
			if k, at := fate.Of(err); k != tc.wantFate || !at.Equal(tc.wantAt) {
				t.Errorf("fate = %v at %v, want %v at %v", k, at, tc.wantFate, tc.wantAt)
			}
		})
	}
}

// failingPut is a store that reads but cannot write.
type failingPut struct {
	chatops.Replies
	err error
}

func (f failingPut) PutReply(context.Context, string, chatops.ReplyRecord) error { return f.err }

// TestReplyAnswerLost: a reply's POST is not replayed below ChatOps, so
// when its answer is lost Reply looks for it before anyone posts again.
func TestReplyAnswerLost(t *testing.T) {
	eof := &url.Error{Op: "Post", URL: "https://api.github.com/repos/acme/gitops/issues/5/comments", Err: io.EOF}
	for _, tc := range []struct {
		name       string
		fail, lost map[string]error
		wantErr    string
		wantFate   fate.Kind
		wantCalls  []string
		wantBodies []string
		wantStored map[string]chatops.ReplyRecord
	}{
		{
			name:       "posted, answer lost: found and remembered",
			lost:       map[string]error{"create": eof},
			wantCalls:  []string{"comments 5 0", "create 5", "comments 5 0"},
			wantBodies: []string{"done" + marker},
			wantStored: map[string]chatops.ReplyRecord{replyKey: {CommentID: 1001, Text: "done" + marker}},
		},
		{
			name:      "not posted (502): not found, the queue retries",
			fail:      map[string]error{"create": chatopstest.Status(http.StatusBadGateway)},
			wantErr:   "reply on #5: 502",
			wantFate:  fate.Retryable,
			wantCalls: []string{"comments 5 0", "create 5", "comments 5 0"},
		},
		{
			name:      "refused (422): nothing to look for",
			fail:      map[string]error{"create": chatopstest.Status(http.StatusUnprocessableEntity)},
			wantErr:   "reply on #5: 422",
			wantFate:  fate.Terminal,
			wantCalls: []string{"comments 5 0", "create 5"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := &chatopstest.GitHub{Fail: tc.fail, Lost: tc.lost}
			rs := &chatopstest.Replies{}
			c := &chatops.Commands{Replies: rs, Log: zerolog.Nop(), Self: chatopstest.Identity(chatopstest.Login)}
			err := c.Reply(context.Background(), gh, command("prod"), "done")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Reply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Reply error = %v, want %q", err, tc.wantErr)
			case tc.wantErr != "":
				if k, _ := fate.Of(err); k != tc.wantFate {
					t.Errorf("fate %v, want %v", k, tc.wantFate)
				}
			}
			if !reflect.DeepEqual(gh.Calls, tc.wantCalls) {
				t.Errorf("calls:\n%q\nwant\n%q", gh.Calls, tc.wantCalls)
			}
			if !reflect.DeepEqual(gh.Bodies(), tc.wantBodies) {
				t.Errorf("comments %q, want %q", gh.Bodies(), tc.wantBodies)
			}
			if tc.wantStored != nil && !reflect.DeepEqual(rs.Records, tc.wantStored) {
				t.Errorf("stored %+v, want %+v", rs.Records, tc.wantStored)
			}
		})
	}
}

// TestReplySelfFails: without promobot's login no reply is looked for, and
// the failure keeps its fate.
func TestReplySelfFails(t *testing.T) {
	gh := &chatopstest.GitHub{}
	boom := fate.Terminalf("GET /app: 401 Bad credentials")
	c := &chatops.Commands{Replies: &chatopstest.Replies{}, Log: zerolog.Nop(),
		Self: func(context.Context) (string, error) { return "", boom }}
	err := c.Reply(context.Background(), gh, command("prod"), "done")
	if !errors.Is(err, boom) || !fate.IsTerminal(err) || len(gh.Calls) != 0 {
		t.Errorf("Reply = %v after calls %q; want the identity's failure, before any call", err, gh.Calls)
	}
}
