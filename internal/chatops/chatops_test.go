package chatops_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/chatops/chatopstest"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const testRules = `version: 1
environments:
  - name: dev
    direct: true
  - name: staging
  - name: prod
    promoters: { users: [alice], teams: [acme/payments-leads] }
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
  - name: web
    repo: acme/gitops
    image: registry.example.com/web
    targets:
      dev:     { helm: charts/web/values-dev.yaml, field: image.tag }
      staging: { helm: charts/web/values-staging.yaml, field: image.tag }
`

func mustRules(t *testing.T) *rules.Rules {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return rs
}

// command is "/promote <to> [services]" by bob, typed on pull request #5.
func command(to string, services ...string) intent.Intent {
	return intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: services, To: to, Requester: "bob",
		Source: intent.SourceRef{CommentID: 7, Issue: 5, PRURL: "https://github.com/acme/gitops/pull/5"}}
}

func by(user string, in intent.Intent) intent.Intent {
	in.Requester = user
	return in
}

func onIssue(in intent.Intent) intent.Intent {
	in.Source.PRURL = ""
	return in
}

// metadata is the block promobot writes into its PR bodies.
func metadata(repo string, services ...string) string {
	var cs []string
	for _, s := range services {
		name, to, _ := strings.Cut(s, "@")
		cs = append(cs, fmt.Sprintf(`{"name":%q,"path":"x","to":%q}`, name, to))
	}
	return fmt.Sprintf("Promotes things.\n\n<!-- promobot:{\"version\":1,\"repo\":%q,\"env\":\"prod\",\"services\":[%s]} -->\n", repo, strings.Join(cs, ","))
}

func promobotPR(body string, merged bool) chatops.PullRequest {
	return chatops.PullRequest{Body: body, Merged: merged, User: chatopstest.Login, UserType: "Bot", HeadRef: "promobot/prod/web", HeadRepo: "acme/gitops"}
}

func writer(users ...string) map[string]string {
	m := map[string]string{}
	for _, u := range users {
		m[u] = "write"
	}
	return m
}

func TestHandle(t *testing.T) {
	rs := mustRules(t)
	t1 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	opened := func(n int) chatops.Promotion {
		return chatops.Promotion{Outcome: "opened", Reason: fmt.Sprintf("opened PR #%d", n), PR: n, PRURL: fmt.Sprintf("https://github.com/acme/gitops/pull/%d", n)}
	}
	for _, tc := range []struct {
		name     string
		in       intent.Intent
		gh       *chatopstest.GitHub
		promoted map[string]chatops.Promotion // service → what promoting it did
		failed   error                        // what promoting any service not in promoted returns

		want         chatops.Promotion
		wantErr      string // substring
		wantFate     fate.Kind
		wantPromoted []string // service@tag, in order
		wantReply    string   // without the marker; empty: no reply
		wantCalls    []string
		wantNoRules  bool
		self         func(context.Context) (string, error) // Commands.Self; default chatopstest.Login
	}{
		{
			name:         "a named service is promoted and answered",
			in:           command("staging", "web"),
			gh:           &chatopstest.GitHub{Perms: writer("bob")},
			promoted:     map[string]chatops.Promotion{"web": opened(9)},
			want:         opened(9),
			wantPromoted: []string{"web@"},
			wantReply:    "@bob `/promote staging`:\n- ✅ **web**: opened PR #9: https://github.com/acme/gitops/pull/9",
			wantCalls:    []string{"permission bob", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name:        "no access is refused before the rules are read",
			in:          command("staging", "web"),
			gh:          &chatopstest.GitHub{},
			want:        chatops.Promotion{Outcome: "refused", Reason: "`bob` has no access to acme/gitops; promoting needs write permission"},
			wantReply:   "@bob promobot did not act: `bob` has no access to acme/gitops; promoting needs write permission",
			wantCalls:   []string{"permission bob", "comments 5 0", "create 5"},
			wantNoRules: true,
		},
		{
			name:        "read permission is refused",
			in:          command("staging", "web"),
			gh:          &chatopstest.GitHub{Perms: map[string]string{"bob": "read"}},
			want:        chatops.Promotion{Outcome: "refused", Reason: "`bob` has read permission on acme/gitops; promoting needs write, maintain or admin"},
			wantReply:   "@bob promobot did not act: `bob` has read permission on acme/gitops; promoting needs write, maintain or admin",
			wantNoRules: true,
		},
		{
			name:        "an empty permission reads as none",
			in:          command("staging", "web"),
			gh:          &chatopstest.GitHub{Perms: map[string]string{"bob": ""}},
			want:        chatops.Promotion{Outcome: "refused", Reason: "`bob` has no permission on acme/gitops; promoting needs write, maintain or admin"},
			wantReply:   "@bob promobot did not act: `bob` has no permission on acme/gitops; promoting needs write, maintain or admin",
			wantNoRules: true,
		},
		{
			name:         "maintain and admin may promote too",
			in:           command("staging", "web"),
			gh:           &chatopstest.GitHub{Perms: map[string]string{"bob": "maintain"}},
			promoted:     map[string]chatops.Promotion{"web": {Outcome: "skipped", Reason: "staging already runs v1"}},
			want:         chatops.Promotion{Outcome: "skipped", Reason: "staging already runs v1"},
			wantPromoted: []string{"web@"},
			wantReply:    "@bob `/promote staging`:\n- **web**: staging already runs v1",
		},
		{
			name:        "a failing permission check is GitHub's failure",
			in:          command("staging", "web"),
			gh:          &chatopstest.GitHub{Fail: map[string]error{"permission": chatopstest.Status(http.StatusBadGateway)}},
			wantErr:     "permission of bob: 502",
			wantFate:    fate.Retryable,
			wantCalls:   []string{"permission bob"},
			wantNoRules: true,
		},
		{
			name:        "a forbidden permission check is terminal",
			in:          command("staging", "web"),
			gh:          &chatopstest.GitHub{Fail: map[string]error{"permission": chatopstest.Status(http.StatusForbidden)}},
			wantErr:     "permission of bob: 403",
			wantFate:    fate.Terminal,
			wantNoRules: true,
		},
		{
			name:         "a promoter by name",
			in:           by("alice", command("prod", "payment-service")),
			gh:           &chatopstest.GitHub{Perms: writer("alice")},
			promoted:     map[string]chatops.Promotion{"payment-service": opened(10)},
			want:         opened(10),
			wantPromoted: []string{"payment-service@"},
			wantReply:    "@alice `/promote prod`:\n- ✅ **payment-service**: opened PR #10: https://github.com/acme/gitops/pull/10",
		},
		{
			name:         "a promoter by team",
			in:           command("prod", "payment-service"),
			gh:           &chatopstest.GitHub{Perms: writer("bob"), Members: map[string]string{"acme/payments-leads bob": "active"}},
			promoted:     map[string]chatops.Promotion{"payment-service": opened(10)},
			want:         opened(10),
			wantPromoted: []string{"payment-service@"},
			wantCalls:    []string{"permission bob", "membership acme/payments-leads bob", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name:      "not in the team",
			in:        command("prod", "payment-service"),
			gh:        &chatopstest.GitHub{Perms: writer("bob")},
			want:      chatops.Promotion{Outcome: "refused", Reason: "only @alice, @acme/payments-leads may promote payment-service to prod"},
			wantReply: "@bob promobot did not act: only @alice, @acme/payments-leads may promote payment-service to prod",
			wantCalls: []string{"permission bob", "membership acme/payments-leads bob", "comments 5 0", "create 5"},
		},
		{
			name:      "a pending membership is not one",
			in:        command("prod", "payment-service"),
			gh:        &chatopstest.GitHub{Perms: writer("bob"), Members: map[string]string{"acme/payments-leads bob": "pending"}},
			want:      chatops.Promotion{Outcome: "refused", Reason: "only @alice, @acme/payments-leads may promote payment-service to prod"},
			wantReply: "@bob promobot did not act: only @alice, @acme/payments-leads may promote payment-service to prod",
		},
		{
			name:     "a failing membership check",
			in:       command("prod", "payment-service"),
			gh:       &chatopstest.GitHub{Perms: writer("bob"), Fail: map[string]error{"membership": chatopstest.Status(http.StatusForbidden)}},
			wantErr:  "membership of bob in acme/payments-leads: 403",
			wantFate: fate.Terminal,
		},
		{
			name:      "a service without the environment",
			in:        command("qa", "web"),
			gh:        &chatopstest.GitHub{Perms: writer("bob")},
			want:      chatops.Promotion{Outcome: "refused", Reason: "`web` has no environment `qa`"},
			wantReply: "@bob promobot did not act: `web` has no environment `qa`",
		},
		{
			name:      "an issue needs named services",
			in:        onIssue(command("staging")),
			gh:        &chatopstest.GitHub{Perms: writer("bob")},
			want:      chatops.Promotion{Outcome: "refused", Reason: "name the services on an issue: `payment-service`, `web`"},
			wantReply: "@bob name the services on an issue: `payment-service`, `web`",
			wantCalls: []string{"permission bob", "comments 5 0", "create 5"},
		},
		{
			name: "a repository without services says so",
			in: func() intent.Intent {
				in := onIssue(command("staging"))
				in.Repo = "acme/other"
				return in
			}(),
			gh:        &chatopstest.GitHub{Perms: writer("bob")},
			want:      chatops.Promotion{Outcome: "refused", Reason: "name the services on an issue: no services are configured for acme/other"},
			wantReply: "@bob name the services on an issue: no services are configured for acme/other",
		},
		{
			name: "a merged promobot PR promotes its services at its tags",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"),
				PR: promobotPR(metadata("acme/gitops", "web@v2", "payment-service@v1", "web@v3"), true)},
			promoted: map[string]chatops.Promotion{
				"web":             {Outcome: "skipped", Reason: "staging already runs v2"},
				"payment-service": opened(11),
			},
			want:         chatops.Promotion{Outcome: "opened", Reason: "opened PR #11", PR: 11, PRURL: "https://github.com/acme/gitops/pull/11"},
			wantPromoted: []string{"web@v2", "payment-service@v1"},
			wantReply:    "@bob `/promote staging`:\n- **web**: staging already runs v2\n- ✅ **payment-service**: opened PR #11: https://github.com/acme/gitops/pull/11",
			wantCalls:    []string{"permission bob", "pr 5", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name: "an open promobot PR promotes its services at the named tag",
			in: func() intent.Intent {
				in := command("staging")
				in.Tag = "v9"
				return in
			}(),
			gh:           &chatopstest.GitHub{Perms: writer("bob"), PR: promobotPR(metadata("acme/gitops", "web@v2"), false)},
			promoted:     map[string]chatops.Promotion{"web": opened(12)},
			want:         opened(12),
			wantPromoted: []string{"web@v9"},
		},
		{
			name:         "an open promobot PR without a tag leaves it to the source environment",
			in:           command("staging"),
			gh:           &chatopstest.GitHub{Perms: writer("bob"), PR: promobotPR(metadata("acme/gitops", "web@v2"), false)},
			promoted:     map[string]chatops.Promotion{"web": opened(12)},
			want:         opened(12),
			wantPromoted: []string{"web@"},
		},
		{
			name: "metadata in a person's PR does not count",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"),
				PR:    chatops.PullRequest{Body: metadata("acme/gitops", "web@v2"), Merged: true, UserType: "User", HeadRef: "promobot/prod/web", HeadRepo: "acme/gitops"},
				Files: []string{"apps/payment-service/overlays/dev/kustomization.yaml"}},
			promoted:     map[string]chatops.Promotion{"payment-service": opened(13)},
			want:         opened(13),
			wantPromoted: []string{"payment-service@"},
			wantCalls:    []string{"permission bob", "pr 5", "files 5 0", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name: "metadata in another bot's PR does not count",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"),
				PR:    chatops.PullRequest{Body: metadata("acme/gitops", "web@v2"), Merged: true, User: "renovate[bot]", UserType: "Bot", HeadRef: "promobot/prod/web", HeadRepo: "acme/gitops"},
				Files: []string{"apps/payment-service/overlays/dev/kustomization.yaml"}},
			promoted:     map[string]chatops.Promotion{"payment-service": opened(13)},
			want:         opened(13),
			wantPromoted: []string{"payment-service@"},
		},
		{
			name: "with a personal access token, promobot's own PRs are a user's, and their metadata counts",
			in:   command("staging"),
			self: chatopstest.Identity("release-bot"),
			gh: &chatopstest.GitHub{Perms: writer("bob"), Self: "release-bot", SelfType: "User",
				PR: chatops.PullRequest{Body: metadata("acme/gitops", "web@v2"), Merged: true, User: "Release-Bot", UserType: "User", HeadRef: "promobot/prod/web", HeadRepo: "acme/gitops"}},
			promoted:     map[string]chatops.Promotion{"web": opened(12)},
			want:         opened(12),
			wantPromoted: []string{"web@v2"},
			wantCalls:    []string{"permission bob", "pr 5", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name:     "promobot's login cannot be learnt",
			in:       command("staging"),
			self:     func(context.Context) (string, error) { return "", fate.Terminalf("GET /app: 401") },
			gh:       &chatopstest.GitHub{Perms: writer("bob"), PR: promobotPR(metadata("acme/gitops", "web@v2"), true)},
			wantErr:  "promobot's own login: GET /app: 401",
			wantFate: fate.Terminal,
		},
		{
			name: "metadata on a branch of another repository does not count",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"),
				PR:    chatops.PullRequest{Body: metadata("acme/gitops", "web@v2"), Merged: true, User: chatopstest.Login, UserType: "Bot", HeadRef: "promobot/prod/web", HeadRepo: "mallory/gitops"},
				Files: []string{"charts/web/values-staging.yaml"}},
			promoted:     map[string]chatops.Promotion{"web": opened(13)},
			want:         opened(13),
			wantPromoted: []string{"web@"},
		},
		{
			name: "metadata for another repository does not count",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"),
				PR: promobotPR(metadata("acme/elsewhere", "web@v2"), true), Files: []string{"README.md"}},
			want:      chatops.Promotion{Outcome: "refused", Reason: "this pull request changes no service's files; name the services: `payment-service`, `web`"},
			wantReply: "@bob this pull request changes no service's files; name the services: `payment-service`, `web`",
		},
		{
			name: "the services whose files a PR changed, over several pages",
			in:   command("staging"),
			gh: &chatopstest.GitHub{Perms: writer("bob"), PerPage: 1, PR: chatops.PullRequest{UserType: "User"},
				Files: []string{"charts/web/values-dev.yaml", "README.md", "apps/payment-service/overlays/prod/kustomization.yaml", "./charts/web/values-staging.yaml"}},
			promoted: map[string]chatops.Promotion{
				"payment-service": opened(14),
				"web":             {Outcome: "updated", Reason: "updated PR #15", PR: 15, PRURL: "https://github.com/acme/gitops/pull/15"},
			},
			want:         chatops.Promotion{Outcome: "updated", Reason: "updated PR #15", PR: 15, PRURL: "https://github.com/acme/gitops/pull/15"},
			wantPromoted: []string{"payment-service@", "web@"},
			wantReply: "@bob `/promote staging`:\n- ✅ **payment-service**: opened PR #14: https://github.com/acme/gitops/pull/14\n" +
				"- ✅ **web**: updated PR #15: https://github.com/acme/gitops/pull/15",
			wantCalls: []string{"permission bob", "pr 5", "files 5 0", "files 5 2", "files 5 3", "files 5 4", "react 7 eyes", "comments 5 0", "create 5"},
		},
		{
			name:     "a failing PR read",
			in:       command("staging"),
			gh:       &chatopstest.GitHub{Perms: writer("bob"), Fail: map[string]error{"pr": chatopstest.Status(http.StatusNotFound)}},
			wantErr:  "get pull request #5: 404",
			wantFate: fate.Terminal,
		},
		{
			name:     "a failing file list",
			in:       command("staging"),
			gh:       &chatopstest.GitHub{Perms: writer("bob"), Fail: map[string]error{"files": chatopstest.Status(http.StatusInternalServerError)}},
			wantErr:  "list files of #5: 500",
			wantFate: fate.Retryable,
		},
		{
			name: "a rollback without a tag is refused",
			in: func() intent.Intent {
				in := command("staging", "web")
				in.Kind = intent.KindRollback
				return in
			}(),
			gh:        &chatopstest.GitHub{Perms: writer("bob")},
			want:      chatops.Promotion{Outcome: "refused", Reason: "intent d:0: rollback needs a tag"},
			wantReply: "@bob intent d:0: rollback needs a tag",
		},
		{
			name: "a rollback says so",
			in: func() intent.Intent {
				in := command("staging", "web")
				in.Kind, in.Tag = intent.KindRollback, "v1"
				return in
			}(),
			gh:           &chatopstest.GitHub{Perms: writer("bob")},
			promoted:     map[string]chatops.Promotion{"web": opened(16)},
			want:         opened(16),
			wantPromoted: []string{"web@v1"},
			wantReply:    "@bob `/rollback staging`:\n- ✅ **web**: opened PR #16: https://github.com/acme/gitops/pull/16",
		},
		{
			name: "closed gates: retry when the last opens",
			in:   command("staging", "web", "payment-service"),
			gh:   &chatopstest.GitHub{Perms: writer("bob")},
			promoted: map[string]chatops.Promotion{
				"web":             {Outcome: "delayed", Reason: "soaking until 11:00", RetryAt: t2},
				"payment-service": {Outcome: "delayed", Reason: "outside the window", RetryAt: t1},
			},
			want:         chatops.Promotion{Outcome: "delayed", Reason: "outside the window", RetryAt: t2},
			wantPromoted: []string{"web@", "payment-service@"},
			wantReply:    "@bob `/promote staging`:\n- ⏳ **web**: soaking until 11:00; promobot retries then\n- ⏳ **payment-service**: outside the window; promobot retries then",
		},
		{
			name:         "a failed promotion keeps its fate and is not answered",
			in:           command("staging", "web"),
			gh:           &chatopstest.GitHub{Perms: writer("bob")},
			failed:       fate.Terminalf("invalid kustomization"),
			wantErr:      "promote web: invalid kustomization",
			wantFate:     fate.Terminal,
			wantPromoted: []string{"web@"},
			wantCalls:    []string{"permission bob", "react 7 eyes"},
		},
		{
			name:      "a failing reaction stops before promoting",
			in:        command("staging", "web"),
			gh:        &chatopstest.GitHub{Perms: writer("bob"), Fail: map[string]error{"react": chatopstest.Status(http.StatusBadGateway)}},
			wantErr:   "react to comment 7: 502",
			wantFate:  fate.Retryable,
			wantCalls: []string{"permission bob", "react 7 eyes"},
		},
		{
			name: "a reply intent is only answered",
			in: intent.Intent{ID: "d:0", Kind: intent.KindReply, Repo: "acme/gitops", Reply: "Usage: `/promote <env>`",
				Source: intent.SourceRef{CommentID: 7, Issue: 5}},
			gh:          &chatopstest.GitHub{},
			want:        chatops.Promotion{Outcome: "skipped", Reason: "answered the comment"},
			wantReply:   "Usage: `/promote <env>`",
			wantCalls:   []string{"comments 5 0", "create 5"},
			wantNoRules: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Requester == "" && tc.in.Kind != intent.KindReply {
				t.Fatal("test intent without requester")
			}
			gh := tc.gh
			self := tc.self
			if self == nil {
				self = chatopstest.Identity(chatopstest.Login)
			}
			c := &chatops.Commands{Replies: &chatopstest.Replies{}, Log: zerolog.Nop(), Self: self}
			loaded := false
			load := func(context.Context) (*rules.Rules, error) { loaded = true; return rs, nil }
			var promoted []string
			promote := func(_ context.Context, sub intent.Intent) (chatops.Promotion, error) {
				if len(sub.Services) != 1 {
					t.Fatalf("promote got services %v", sub.Services)
				}
				promoted = append(promoted, sub.Services[0]+"@"+sub.Tag)
				if p, ok := tc.promoted[sub.Services[0]]; ok {
					return p, nil
				}
				if tc.failed != nil {
					return chatops.Promotion{}, tc.failed
				}
				t.Fatalf("unexpected promotion of %s", sub.Services[0])
				return chatops.Promotion{}, nil
			}

			got, err := c.Handle(context.Background(), gh, tc.in, load, promote)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Handle: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Handle error = %v, want %q", err, tc.wantErr)
			case tc.wantErr != "":
				if k, _ := fate.Of(err); k != tc.wantFate {
					t.Errorf("fate = %v, want %v", k, tc.wantFate)
				}
				if tc.failed != nil && !errors.Is(err, tc.failed) {
					t.Errorf("the promotion error is not kept: %v", err)
				}
			default:
				if got != tc.want {
					t.Errorf("Handle = %+v, want %+v", got, tc.want)
				}
			}
			if loaded == tc.wantNoRules {
				t.Errorf("rules loaded = %v", loaded)
			}
			if !reflect.DeepEqual(promoted, tc.wantPromoted) {
				t.Errorf("promoted %v, want %v", promoted, tc.wantPromoted)
			}
			if tc.wantReply != "" {
				want := []string{tc.wantReply + "\n\n<!-- promobot-reply:7 -->"}
				if got := gh.Bodies(); !reflect.DeepEqual(got, want) {
					t.Errorf("replies:\n%q\nwant\n%q", got, want)
				}
			}
			if tc.wantErr != "" && len(gh.Comments) != 0 {
				t.Errorf("a failed command was answered: %q", gh.Bodies())
			}
			if tc.wantCalls != nil && !reflect.DeepEqual(gh.Calls, tc.wantCalls) {
				t.Errorf("calls:\n%q\nwant\n%q", gh.Calls, tc.wantCalls)
			}
		})
	}
}

// A refusal whose reply fails is still a refusal, and the failure is returned.
func TestHandleRefusalReplyFails(t *testing.T) {
	gh := &chatopstest.GitHub{Fail: map[string]error{"create": chatopstest.Status(http.StatusBadGateway)}}
	c := &chatops.Commands{Replies: &chatopstest.Replies{}, Log: zerolog.Nop(), Self: chatopstest.Identity(chatopstest.Login)}
	got, err := c.Handle(context.Background(), gh, command("staging", "web"), nil, nil)
	if err == nil || got.Outcome != "refused" {
		t.Fatalf("Handle = %+v, %v; want a refusal and the reply's failure", got, err)
	}
}

// The rules' failure is the caller's, returned as it is.
func TestHandleRulesFail(t *testing.T) {
	boom := fate.Terminalf("expand generators: boom")
	gh := &chatopstest.GitHub{Perms: writer("bob")}
	c := &chatops.Commands{Replies: &chatopstest.Replies{}, Log: zerolog.Nop(), Self: chatopstest.Identity(chatopstest.Login)}
	_, err := c.Handle(context.Background(), gh, command("staging", "web"),
		func(context.Context) (*rules.Rules, error) { return nil, boom }, nil)
	if err != boom {
		t.Fatalf("Handle error = %v, want %v", err, boom)
	}
}
