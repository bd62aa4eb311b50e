package repoindex

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue/queuetest"
	"github.com/promobot/promobot/internal/rules"
)

const server = `version: 1
environments: [{name: dev}, {name: prod}]
services: []
policy:
  environments:
    'prod*': { autoMerge: false }
`

const teamA = `version: 1
environments: [{name: dev}, {name: prod}]
services:
  - name: orders
    image: r.example.com/orders
    targets: {dev: {kustomize: apps/orders/dev}, prod: {kustomize: apps/orders/prod}}
`

func jetStream(t *testing.T, ctx context.Context) func() jetstream.JetStream {
	t.Helper()
	return queuetest.JetStream(t, ctx)
}

// waitFor waits until cond holds, woken by each change the watcher applies.
func waitFor(t *testing.T, ctx context.Context, x *Index, cond func() bool) {
	t.Helper()
	for {
		// The channel is taken before cond is read: a change between the
		// two closes it, so it is never missed.
		changed := x.changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("index did not follow the bucket")
		}
	}
}

// TestIndexFollowsWrites: one process writes what it read; another, which
// loaded the bucket at start and watches it, compiles the configuration
// with its server rules; an invalid one and a policy-breaking one are
// Invalid; a hostile entry is ignored.
func TestIndexFollowsWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := jetStream(t, ctx)
	log := zerolog.Nop()
	writer, err := Open(ctx, js(), 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Put(ctx, Entry{Repo: "acme/quiet", Path: ".github/promobot.yaml", Commit: "c0", State: None}); err != nil {
		t.Fatal(err)
	}
	reader, err := Open(ctx, js(), 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	if !reader.Has("ACME/quiet") {
		t.Fatal("an entry written before the watch is not loaded")
	}
	rs, err := rules.Parse("rules.yaml", []byte(server))
	if err != nil {
		t.Fatal(err)
	}

	weak := strings.Replace(teamA, "{name: prod}", "{name: prod, autoMerge: true}", 1)
	for _, e := range []Entry{
		{Repo: "acme/team-a", Path: ".github/promobot.yaml", Commit: "c1", State: Valid, Config: []byte(teamA)},
		{Repo: "acme/team-b", Path: ".github/promobot.yaml", Commit: "c2", State: Invalid, Config: []byte("version: 2\n"), Errors: []string{"version"}},
		{Repo: "acme/team-c", Path: ".github/promobot.yaml", Commit: "c3", State: Valid, Config: []byte(weak)},
		{Repo: "acme/huge", Path: ".github/promobot.yaml", Commit: "c4", State: Valid, Config: make([]byte, MaxConfig+1)},
	} {
		if err := writer.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// An entry under another repository's key is not believed.
	if _, err := writer.kv.Put(ctx, key("acme/team-d"), []byte(`{"repo":"acme/team-a","state":"none"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.kv.Put(ctx, key("acme/team-e"), []byte(`{not json`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, reader, func() bool { _, l := reader.Configs(rs); return len(l) == 5 })
	_, list := reader.Configs(rs)
	got := map[string]State{}
	for _, c := range list {
		got[c.Repo] = c.State
		if (c.Rules != nil) != (c.State == Valid) {
			t.Errorf("%s: state %s with rules %v", c.Repo, c.State, c.Rules != nil)
		}
	}
	want := map[string]State{"acme/huge": Invalid, "acme/quiet": None, "acme/team-a": Valid, "acme/team-b": Invalid, "acme/team-c": Invalid}
	for repo, st := range want {
		if got[repo] != st {
			t.Errorf("%s: %s, want %s", repo, got[repo], st)
		}
	}
	if list[0].Repo != "acme/huge" || list[4].Repo != "acme/team-c" {
		t.Errorf("not sorted by repository: %v", list)
	}
	v1, l1 := reader.Configs(rs)
	v2, l2 := reader.Configs(rs)
	if v1 != v2 || &l1[0] != &l2[0] {
		t.Error("an unchanged index is compiled again")
	}
	// A new commit of one repository compiles that repository alone.
	teamARules := l1[2].Rules
	if err := writer.Put(ctx, Entry{Repo: "acme/quiet", Path: ".github/promobot.yaml", Commit: "c5", State: Valid, Config: []byte(teamA)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, reader, func() bool { _, l := reader.Configs(rs); return l[1].State == Valid })
	_, l3 := reader.Configs(rs)
	if l3[2].Repo != "acme/team-a" || l3[2].Rules != teamARules {
		t.Error("an unchanged repository was compiled again")
	}
}

// TestOlderCommitNeverReplacesANewerOne: two workers read two commits of
// a repository; the one that reads the older commit finishes last, and the
// newer commit's entry stays. Entries without a commit time (written by an
// older promobot) are replaced as before.
func TestOlderCommitNeverReplacesANewerOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := jetStream(t, ctx)
	a, err := Open(ctx, js(), 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, js(), 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	stored := func() Entry {
		t.Helper()
		e, err := a.kv.Get(ctx, key("acme/team-a"))
		if err != nil {
			t.Fatal(err)
		}
		var out Entry
		if err := json.Unmarshal(e.Value(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	newer := Entry{Repo: "acme/team-a", Path: ".github/promobot.yaml", Commit: "c2", Committed: t0.Add(time.Minute), State: Invalid, Config: []byte("version: 2\n")}
	older := Entry{Repo: "acme/team-a", Path: ".github/promobot.yaml", Commit: "c1", Committed: t0, State: Valid, Config: []byte(teamA)}
	if err := a.Put(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, older); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got.Commit != "c2" || got.State != Invalid {
		t.Errorf("after a late read of the older commit the entry is %s (%s), want c2 (invalid)", got.Commit, got.State)
	}
	legacy := Entry{Repo: "acme/team-a", Path: ".github/promobot.yaml", Commit: "c3", State: None}
	if err := b.Put(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got.Commit != "c3" {
		t.Errorf("an entry without a commit time did not replace: %s", got.Commit)
	}
}
