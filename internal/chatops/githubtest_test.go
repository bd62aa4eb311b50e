package chatops_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/chatops/chatopstest"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// These tests run ChatOps over its REST adapter, the production clients
// (ghapp, ghretry) and the GitHub test server.

const (
	gitops    = "acme/gitops"
	carolTok  = "carol-token" // a person's token, for setting the scene
	releasePT = "release-bot-token"
)

type live struct {
	srv     *githubtest.Server
	clients *ghapp.Clients
	gh      chatops.GitHub
	ctx     context.Context
}

// newLive is GitHub with acme/gitops and promobot's clients: as the App
// installed on it, or (token) with a personal access token of the user
// release-bot.
func newLive(t *testing.T, token bool) *live {
	t.Helper()
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := githubtest.Config{Dir: t.TempDir(), AppID: 99, AppPublicKey: pub, InstallationID: 1234,
		StaticToken: carolTok, StaticTokenUser: "carol"}
	if token {
		cfg.StaticToken, cfg.StaticTokenUser = releasePT, "release-bot"
	}
	srv, err := githubtest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateRepo(gitops, "main", map[string]string{"README.md": "# gitops\n"}); err != nil {
		t.Fatal(err)
	}
	gcfg := ghapp.Config{APIURL: srv.URL(), Retry: ghretry.Config{ContentPace: -1, BaseDelay: time.Millisecond}}
	if token {
		gcfg.Token = releasePT
	} else {
		gcfg.AppID, gcfg.PrivateKey = 99, key
	}
	clients, err := ghapp.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	in, err := clients.For(ctx, gitops, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &live{srv: srv, clients: clients, gh: chatops.REST(in.Client), ctx: ctx}
}

func (l *live) commands(replies chatops.Replies) *chatops.Commands {
	return &chatops.Commands{Replies: replies, Log: zerolog.Nop(), Self: l.clients.Identity}
}

// commandOn is alice's "/promote prod" typed on issue or pull request n.
func (l *live) commandOn(t *testing.T, n int, pr bool) intent.Intent {
	t.Helper()
	id, err := l.srv.Comment(gitops, n, "alice", "/promote prod")
	if err != nil {
		t.Fatal(err)
	}
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: gitops, To: "prod", Requester: "alice",
		Source: intent.SourceRef{CommentID: id, Issue: n}}
	if pr {
		in.Source.PRURL = fmt.Sprintf("%s/%s/pull/%d", l.srv.URL(), gitops, n)
	}
	return in
}

// failOnce answers the first request on route with fault.
func (l *live) failOnce(route string, fault *githubtest.Fault) {
	var mu sync.Mutex
	done := false
	l.srv.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if done || c.Route != route {
			return nil
		}
		done = true
		return fault
	})
}

const (
	postComment  = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
	postReaction = "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
)

// TestReplyWhoseAnswerIsLost: GitHub posts the reply, then the answer is
// lost (the connection drops, or a gateway answers 502). The transport does
// not post it again; Reply finds it by its marker. One reply, remembered.
func TestReplyWhoseAnswerIsLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *githubtest.Fault
	}{
		{"connection dropped", &githubtest.Fault{After: true, Drop: true}},
		{"502 from the gateway", &githubtest.Fault{After: true, Status: http.StatusBadGateway}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLive(t, false)
			n, err := l.srv.CreateIssue(gitops, "release", "alice")
			if err != nil {
				t.Fatal(err)
			}
			in := l.commandOn(t, n, false)
			l.failOnce(postComment, tc.fault)
			replies := &chatopstest.Replies{}
			if err := l.commands(replies).Reply(l.ctx, l.gh, in, "done"); err != nil {
				t.Fatalf("Reply: %v", err)
			}
			var ours []githubtest.IssueComment
			for _, c := range l.srv.Comments(gitops, n) {
				if c.User == "promobot[bot]" {
					ours = append(ours, c)
				}
			}
			marker := fmt.Sprintf("<!-- promobot-reply:%d -->", in.Source.CommentID)
			if len(ours) != 1 || !strings.Contains(ours[0].Body, marker) {
				t.Fatalf("promobot's comments %+v, want exactly one reply", ours)
			}
			key := fmt.Sprintf("reply/%s/%d", gitops, in.Source.CommentID)
			if got := replies.Records[key].CommentID; got != ours[0].ID {
				t.Errorf("remembered reply %d, want %d", got, ours[0].ID)
			}
			if n := l.srv.CallCounts()[postComment]; n != 1 {
				t.Errorf("%d POSTs of the reply, want 1", n)
			}
		})
	}
}

// TestReactionWhoseAnswerIsLost: a reaction's POST is replayed, and GitHub
// answers the repeat 200 with the reaction it has: one 👀.
func TestReactionWhoseAnswerIsLost(t *testing.T) {
	l := newLive(t, false)
	n, err := l.srv.CreateIssue(gitops, "release", "alice")
	if err != nil {
		t.Fatal(err)
	}
	in := l.commandOn(t, n, false)
	l.failOnce(postReaction, &githubtest.Fault{After: true, Drop: true})
	if err := l.gh.React(l.ctx, gitops, in.Source.CommentID, "eyes"); err != nil {
		t.Fatalf("React: %v", err)
	}
	want := []githubtest.Reaction{{User: "promobot[bot]", Content: "eyes"}}
	if got := l.srv.Reactions(in.Source.CommentID); !reflect.DeepEqual(got, want) {
		t.Errorf("reactions %+v, want %+v", got, want)
	}
	var statuses []int
	for _, c := range l.srv.Calls() {
		if c.Route == postReaction {
			statuses = append(statuses, c.Status)
		}
	}
	if !reflect.DeepEqual(statuses, []int{0, http.StatusOK}) {
		t.Errorf("reaction POSTs answered %v, want [0 200]: dropped, then GitHub's existing reaction", statuses)
	}
}

// TestRepliesRecognisedByLogin: promobot's replies are the comments by its
// own login. With a personal access token they are "User" comments, and a
// forgotten reply is edited, not repeated; as an App, another bot quoting
// the marker is not promobot.
func TestRepliesRecognisedByLogin(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		l := newLive(t, true)
		n, err := l.srv.CreateIssue(gitops, "release", "alice")
		if err != nil {
			t.Fatal(err)
		}
		in := l.commandOn(t, n, false)
		if err := l.commands(&chatopstest.Replies{}).Reply(l.ctx, l.gh, in, "working"); err != nil {
			t.Fatal(err)
		}
		// The reply store is lost (a new worker, say): the reply is found on GitHub.
		if err := l.commands(&chatopstest.Replies{}).Reply(l.ctx, l.gh, in, "done"); err != nil {
			t.Fatal(err)
		}
		cs := l.srv.Comments(gitops, n)
		if len(cs) != 2 || cs[1].User != "release-bot" || !strings.HasPrefix(cs[1].Body, "done\n\n<!-- promobot-reply:") {
			t.Errorf("comments %+v, want the command and one edited reply by release-bot", cs)
		}
	})
	t.Run("app", func(t *testing.T) {
		l := newLive(t, false)
		n, err := l.srv.CreateIssue(gitops, "release", "alice")
		if err != nil {
			t.Fatal(err)
		}
		in := l.commandOn(t, n, false)
		quote := fmt.Sprintf("> done\n\n<!-- promobot-reply:%d -->", in.Source.CommentID)
		if _, err := l.srv.Comment(gitops, n, "other-bot[bot]", quote); err != nil {
			t.Fatal(err)
		}
		if err := l.commands(&chatopstest.Replies{}).Reply(l.ctx, l.gh, in, "done"); err != nil {
			t.Fatal(err)
		}
		cs := l.srv.Comments(gitops, n)
		if len(cs) != 3 || cs[1].Body != quote || cs[2].User != "promobot[bot]" {
			t.Errorf("comments %+v, want the other bot's untouched and promobot's own reply", cs)
		}
	})
}

const liveRules = `version: 1
environments:
  - name: staging
  - name: prod
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      staging: { helm: charts/web/values-staging.yaml, field: image.tag }
      prod:    { helm: charts/web/values-prod.yaml, field: image.tag }
`

// handle runs the command in with liveRules, recording what is promoted.
func (l *live) handle(t *testing.T, in intent.Intent) (chatops.Promotion, []string) {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(liveRules))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.SetPermission(gitops, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	var promoted []string
	p, err := l.commands(&chatopstest.Replies{}).Handle(l.ctx, l.gh, in,
		func(context.Context) (*rules.Rules, error) { return rs, nil },
		func(_ context.Context, sub intent.Intent) (chatops.Promotion, error) {
			promoted = append(promoted, sub.Services[0]+"@"+sub.Tag)
			return chatops.Promotion{Outcome: "opened", Reason: "opened PR #99"}, nil
		})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return p, promoted
}

// openPR pushes files to branch and opens a pull request from it with
// token (carol's, or promobot's own).
func (l *live) openPR(t *testing.T, token, branch, body string, files map[string]*string) int {
	t.Helper()
	if _, err := l.srv.Commit(gitops, branch, files, "change"); err != nil {
		t.Fatal(err)
	}
	gh, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(l.srv.APIURL(), l.srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	pr, _, err := gh.PullRequests.Create(l.ctx, "acme", "gitops", &github.NewPullRequest{
		Title: github.String("change"), Head: github.String(branch), Base: github.String("main"), Body: github.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	return pr.GetNumber()
}

// TestPromoteFindsTheServicePastThePageBreak: "/promote prod" on a person's
// pull request whose service file is the 150th of 200 changed files.
func TestPromoteFindsTheServicePastThePageBreak(t *testing.T) {
	l := newLive(t, false)
	files := map[string]*string{}
	add := func(p string) { s := p + "\n"; files[p] = &s }
	for i := range 149 {
		add(fmt.Sprintf("aaa/file-%03d.txt", i))
	}
	add("apps/payment-service/overlays/prod/kustomization.yaml")
	for i := range 50 {
		add(fmt.Sprintf("zzz/file-%03d.txt", i))
	}
	n := l.openPR(t, carolTok, "carol/many-files", "Many files.", files)

	l.srv.ResetCalls()
	p, promoted := l.handle(t, l.commandOn(t, n, true))
	if !reflect.DeepEqual(promoted, []string{"payment-service@"}) || p.Outcome != "opened" {
		t.Errorf("promoted %v (%+v), want payment-service", promoted, p)
	}
	if got := l.srv.CallCounts()["GET /repos/{owner}/{repo}/pulls/{pull_number}/files"]; got != 2 {
		t.Errorf("%d pages of files read, want 2 of 100", got)
	}

	// GitHub's own listing (after the count: the server records a call
	// once answered): the service file is the 150th.
	var all []string
	for page := 1; page != 0; {
		ps, next, err := l.gh.PullRequestFiles(l.ctx, gitops, n, page)
		if err != nil {
			t.Fatal(err)
		}
		all, page = append(all, ps...), next
	}
	if len(all) != 200 || all[149] != "apps/payment-service/overlays/prod/kustomization.yaml" {
		t.Fatalf("%d files listed, the 150th %q", len(all), all[min(149, len(all)-1)])
	}
}

// TestOwnPRMetadataByLogin: with a personal access token, promobot's pull
// requests are "User" pull requests; their metadata counts because the
// author is promobot's login. A PR by anyone else with the same block and
// branch does not count.
func TestOwnPRMetadataByLogin(t *testing.T) {
	body := "Promotes web.\n\n<!-- promobot:{\"version\":1,\"repo\":\"acme/gitops\",\"env\":\"staging\",\"services\":[{\"name\":\"web\",\"path\":\"charts/web/values-staging.yaml\",\"to\":\"v2\"}]} -->\n"
	// (The change itself touches no service: only the metadata names one.)
	readme := "# gitops\n\nPromoted.\n"
	files := map[string]*string{"README.md": &readme}

	l := newLive(t, true)
	n := l.openPR(t, releasePT, "promobot/staging/web", body, files)
	if prs := l.srv.PullRequests(gitops); len(prs) != 1 {
		t.Fatalf("%d PRs", len(prs))
	}
	_, promoted := l.handle(t, l.commandOn(t, n, true))
	if !reflect.DeepEqual(promoted, []string{"web@"}) {
		t.Errorf("on promobot's own PR: promoted %v, want web from its metadata", promoted)
	}

	// The same PR by carol (App mode; carol is a person): the metadata does
	// not count, the changed files do, and they move no service.
	l = newLive(t, false)
	n = l.openPR(t, carolTok, "promobot/staging/web", body, files)
	p, promoted := l.handle(t, l.commandOn(t, n, true))
	if len(promoted) != 0 || p.Outcome != "refused" {
		t.Errorf("on carol's PR: promoted %v (%+v), want a refusal", promoted, p)
	}
}

// TestForgottenReplyPastThePageBreak: with the reply store lost, the reply
// is found among 150 comments (two pages of 100) and edited, not repeated.
func TestForgottenReplyPastThePageBreak(t *testing.T) {
	l := newLive(t, false)
	n, err := l.srv.CreateIssue(gitops, "release", "alice")
	if err != nil {
		t.Fatal(err)
	}
	in := l.commandOn(t, n, false)
	for i := range 120 {
		if _, err := l.srv.Comment(gitops, n, "carol", fmt.Sprintf("comment %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.commands(&chatopstest.Replies{}).Reply(l.ctx, l.gh, in, "working"); err != nil {
		t.Fatal(err)
	}
	for i := range 28 {
		if _, err := l.srv.Comment(gitops, n, "carol", fmt.Sprintf("later %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.commands(&chatopstest.Replies{}).Reply(l.ctx, l.gh, in, "done"); err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, c := range l.srv.Comments(gitops, n) {
		if c.User == "promobot[bot]" {
			ours = append(ours, c.Body)
		}
	}
	if len(ours) != 1 || !strings.HasPrefix(ours[0], "done\n") {
		t.Errorf("promobot's comments %q, want the one reply, edited", ours)
	}
}
