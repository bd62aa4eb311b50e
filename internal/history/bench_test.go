package history_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

var benchWeeks = 52 // a year; lower it by hand to profile

var benchEnvs = []string{"dev", "staging", "preprod", "prod"}

// synthetic is a GitOps repository built straight into go-git's object
// store: services × environments kustomizations, each service promoted
// through every environment once a week for weeks weeks. dev takes
// promobot's direct commits; every other environment a merged promobot PR
// (a branch commit and a merge commit).
type synthetic struct {
	st      *memory.Storage
	head    plumbing.Hash
	rs      *rules.Rules
	commits int // first-parent commits
	changes int
}

func buildSynthetic(tb testing.TB, services, weeks int) *synthetic {
	tb.Helper()
	var y strings.Builder
	y.WriteString("version: 1\nenvironments:\n")
	for i, e := range benchEnvs {
		fmt.Fprintf(&y, "  - name: %s\n    direct: %v\n", e, i == 0)
	}
	y.WriteString("services:\n")
	for s := range services {
		fmt.Fprintf(&y, "  - name: svc-%03d\n    repo: acme/gitops\n    image: registry.example.com/svc-%03d\n    targets:\n", s, s)
		for _, e := range benchEnvs {
			fmt.Fprintf(&y, "      %s: { kustomize: apps/svc-%03d/%s }\n", e, s, e)
		}
	}
	rs, err := rules.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		tb.Fatal(err)
	}
	st := memory.NewStorage()
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}, t plumbing.ObjectType) plumbing.Hash {
		eo := st.NewEncodedObject()
		eo.SetType(t)
		if err := o.Encode(eo); err != nil {
			tb.Fatal(err)
		}
		h, err := st.SetEncodedObject(eo)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	blob := func(s string) plumbing.Hash {
		eo := st.NewEncodedObject()
		eo.SetType(plumbing.BlobObject)
		w, _ := eo.Writer()
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		h, err := st.SetEncodedObject(eo)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	tree := func(entries []object.TreeEntry) plumbing.Hash {
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		return put(&object.Tree{Entries: entries}, plumbing.TreeObject)
	}
	// envTree[s][e] is the tree of apps/svc-s/e; svcTree[s] of apps/svc-s.
	envTree := make([][]plumbing.Hash, services)
	svcTree := make([]plumbing.Hash, services)
	kustFile := func(s int, tag string) plumbing.Hash {
		b := blob(fmt.Sprintf("resources: [../base]\nimages:\n  - name: registry.example.com/svc-%03d\n    newTag: %s\n", s, tag))
		return tree([]object.TreeEntry{{Name: "kustomization.yaml", Mode: filemode.Regular, Hash: b}})
	}
	mkSvc := func(s int) {
		var es []object.TreeEntry
		for i, e := range benchEnvs {
			es = append(es, object.TreeEntry{Name: e, Mode: filemode.Dir, Hash: envTree[s][i]})
		}
		svcTree[s] = tree(es)
	}
	root := func() plumbing.Hash {
		es := make([]object.TreeEntry, services)
		for s := range services {
			es[s] = object.TreeEntry{Name: fmt.Sprintf("svc-%03d", s), Mode: filemode.Dir, Hash: svcTree[s]}
		}
		apps := tree(es)
		return tree([]object.TreeEntry{{Name: "apps", Mode: filemode.Dir, Hash: apps}})
	}
	for s := range services {
		envTree[s] = make([]plumbing.Hash, len(benchEnvs))
		for i := range benchEnvs {
			envTree[s][i] = kustFile(s, "v0")
		}
		mkSvc(s)
	}
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	sig := func(name string) object.Signature {
		n++
		return object.Signature{Name: name, Email: name + "@example.com", When: t0.Add(time.Duration(n) * time.Minute)}
	}
	commit := func(msg string, tr plumbing.Hash, parents ...plumbing.Hash) plumbing.Hash {
		s := sig("promobot[bot]")
		return put(&object.Commit{Author: s, Committer: s, Message: msg, TreeHash: tr, ParentHashes: parents}, plumbing.CommitObject)
	}
	syn := &synthetic{st: st, rs: rs}
	syn.head = commit("initial layout", root())
	syn.commits, syn.changes = 1, services*len(benchEnvs)
	for w := 1; w <= weeks; w++ {
		for i, e := range benchEnvs {
			for s := range services {
				tag := fmt.Sprintf("v%d", w)
				envTree[s][i] = kustFile(s, tag)
				mkSvc(s)
				tr := root()
				msg := fmt.Sprintf("Promote svc-%03d %s to %s\n\nPromobot-Intent: w%d-%d-%d\nPromobot-Kind: promote\nPromobot-Gate: soak time (open)\n", s, tag, e, w, i, s)
				if i == 0 {
					syn.head = commit(msg, tr, syn.head)
				} else {
					tip := commit(msg, tr, syn.head)
					syn.head = commit(fmt.Sprintf("Merge pull request #%d from acme/promobot/%s/svc-%03d\n\nPromote", n, e, s), tr, syn.head, tip)
				}
				syn.commits++
				syn.changes++
			}
		}
	}
	return syn
}

func TestSyntheticHistory(t *testing.T) {
	syn := buildSynthetic(t, 3, 2)
	h, err := history.Walk(context.Background(), syn.st, syn.head, syn.rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Commits != syn.commits || len(h.Changes) != syn.changes {
		t.Fatalf("%d commits %d changes, want %d %d", h.Commits, len(h.Changes), syn.commits, syn.changes)
	}
	for _, c := range h.Current {
		if c.Ref != "v2" || (c.Env == "dev") != (c.Via == history.ViaDirect) || (c.Env != "dev" && c.PR == 0) {
			t.Errorf("%s/%s: %s via %s PR %d", c.Service, c.Env, c.Ref, c.Via, c.PR)
		}
	}
}

var (
	yearOnce sync.Once
	year     *synthetic
)

// BenchmarkWalkYear walks 200 services × 4 environments promoted weekly
// for a year: 41,601 first-parent commits (31,200 of them merges), 42,400
// tag changes.
func BenchmarkWalkYear(b *testing.B) {
	yearOnce.Do(func() { year = buildSynthetic(b, 200, benchWeeks) })
	b.ReportAllocs()
	cpu := cpuTimer(b)
	b.ResetTimer()
	for b.Loop() {
		h, err := history.Walk(context.Background(), year.st, year.head, year.rs, history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(h.Changes) != year.changes {
			b.Fatalf("%d changes, want %d", len(h.Changes), year.changes)
		}
	}
	cpu()
}

// BenchmarkCachedYear is the same question asked again at the same head.
func BenchmarkCachedYear(b *testing.B) {
	yearOnce.Do(func() { year = buildSynthetic(b, 200, benchWeeks) })
	c := history.NewCache(4)
	if _, err := c.Walk(context.Background(), year.st, year.head, year.rs, history.Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Walk(context.Background(), year.st, year.head, year.rs, history.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkNewHead is the year's walk after one more promotion: the
// cache walks from the previous head (Options.Base).
func BenchmarkWalkNewHead(b *testing.B) {
	yearOnce.Do(func() { year = buildSynthetic(b, 200, benchWeeks) })
	ctx := context.Background()
	c, err := object.GetCommit(year.st, year.head)
	if err != nil {
		b.Fatal(err)
	}
	base, err := history.Walk(ctx, year.st, c.ParentHashes[0], year.rs, history.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTimer(b)
	b.ResetTimer()
	for b.Loop() {
		h, err := history.Walk(ctx, year.st, year.head, year.rs, history.Options{Base: base})
		if err != nil {
			b.Fatal(err)
		}
		if len(h.Changes) != year.changes {
			b.Fatalf("%d changes, want %d", len(h.Changes), year.changes)
		}
	}
	cpu()
}

// cpuTimer reports the process's CPU time (user + system) per operation
// when called: on a machine shared with other work, wall time says little.
func cpuTimer(b *testing.B) func() {
	used := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := used()
	return func() { b.ReportMetric(float64(used()-start)/float64(b.N)/1e6, "cpu-ms/op") }
}
