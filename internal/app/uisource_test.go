package app

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

func TestUISourceMapsHistoryAndLiveRecords(t *testing.T) {
	rs, err := rules.Parse("r.yaml", []byte(`version: 1
environments:
  - {name: dev, direct: true}
  - name: prod
    ticket: {required: true, pattern: 'PAY-\d+', url: 'https://jira.example.com/browse/{{.Ticket}}'}
services:
  - {name: web, repo: acme/gitops, image: r.example.com/web, targets: {dev: {kustomize: apps/web/dev}, prod: {kustomize: apps/web/prod}}}
  - {name: api, repo: acme/gitops, image: r.example.com/api, targets: {dev: {kustomize: apps/api/dev}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	h := &history.History{Head: "h1",
		Changes: []history.Change{
			{Time: t0.Add(2 * time.Hour), Commit: "c3", Service: "web", Env: "prod", From: "v1", To: "v2",
				Origin: history.Origin{Via: history.ViaPR, PR: 12, Requester: "alice", Ticket: "PAY-7"}},
			{Time: t0.Add(time.Hour), Commit: "c2", Service: "web", Env: "dev", From: "v1", To: "v2",
				Origin: history.Origin{Via: history.ViaDirect, Requester: "build 42"}},
			{Time: t0, Commit: "c1", Service: "web", Env: "dev", To: "v1", Author: history.Person{Name: "Carol"},
				Origin: history.Origin{Via: history.ViaHand}},
		},
		Current: []history.Current{
			{Service: "web", Env: "dev", Tag: "v2", Since: t0.Add(time.Hour), Commit: "c2", By: "build 42", Origin: history.Origin{Via: history.ViaDirect}},
			{Service: "web", Env: "prod", Tag: "v2", Since: t0.Add(2 * time.Hour), Commit: "c3", By: "alice", Origin: history.Origin{Via: history.ViaPR, PR: 12}},
			{Service: "api", Env: "dev", Tag: "a1", Digest: "sha256:abc", Since: t0, Commit: "c0", By: "Carol", Origin: history.Origin{Via: history.ViaHand}},
		}}
	live := newLiveBoard(nil, zerolog.Nop())
	live.recs[liveKey(livePR, "acme/gitops", "web", "prod")] = liveRecord{PR: 12, PRURL: "https://github.com/acme/gitops/pull/12"} // merged: hidden
	live.recs[liveKey(liveWait, "acme/gitops", "web", "prod")] = liveRecord{Tag: "v2", Gate: "window", Reason: "closed"}           // runs already: hidden
	live.recs[liveKey(liveWait, "acme/gitops", "api", "dev")] = liveRecord{Tag: "a2", Gate: "soak time", Reason: "soaking"}        // shown
	live.recs[liveKey(livePR, "acme/gitops", "api", "dev")] = liveRecord{PR: 15, PRURL: "https://github.com/acme/gitops/pull/15"}  // shown
	src := &uiSource{rules: func() *rules.Rules { return rs }, live: live, webURL: "https://github.com", now: func() time.Time { return t0.Add(3 * time.Hour) },
		log: zerolog.Nop(), walk: func(context.Context, *rules.Rules, string) (*history.History, error) { return h, nil }}

	st, err := src.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Repositories) != 1 || st.Repositories[0].URL != "https://github.com/acme/gitops" {
		t.Fatalf("repositories = %+v", st.Repositories)
	}
	svcs := st.Repositories[0].Services
	if len(svcs) != 2 || svcs[0].Name != "api" || len(svcs[0].Cells) != 1 || len(svcs[1].Cells) != 2 {
		t.Fatalf("services = %+v", svcs)
	}
	api, prod := svcs[0].Cells[0], svcs[1].Cells[1]
	if api.Digest != "sha256:abc" || len(api.Waiting) != 1 || api.Waiting[0].Gate != "soak time" || len(api.OpenPRs) != 1 || api.OpenPRs[0].Number != 15 {
		t.Errorf("api/dev = %+v", api)
	}
	if prod.Tag != "v2" || prod.PR != 12 || prod.PRURL != "https://github.com/acme/gitops/pull/12" || prod.PromotedBy != "alice" ||
		len(prod.OpenPRs) != 0 || len(prod.Waiting) != 0 {
		t.Errorf("web/prod = %+v", prod)
	}

	changes, found, err := src.Timeline(context.Background(), "ACME/gitops", "web")
	if err != nil || !found || len(changes) != 3 {
		t.Fatalf("timeline = %+v, %v, %v", changes, found, err)
	}
	if c := changes[0]; c.PRURL != "https://github.com/acme/gitops/pull/12" || c.TicketURL != "https://jira.example.com/browse/PAY-7" || c.How != "pr" {
		t.Errorf("newest change = %+v", c)
	}
	if c := changes[2]; c.Requester != "Carol" || c.How != "hand" || c.PRURL != "" {
		t.Errorf("oldest change = %+v", c)
	}
	if _, found, _ := src.Timeline(context.Background(), "acme/other", "web"); found {
		t.Error("a service is found in a repository it does not live in")
	}
}
