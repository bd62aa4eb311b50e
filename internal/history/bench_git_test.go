package history_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

var (
	packedOnce sync.Once
	packedDir  string
	packedRS   *rules.Rules
)

// buildPacked writes the same year as buildSynthetic into a real git
// repository with `git fast-import` (one pack, as a clone or fetch leaves
// it), so the walk reads zlib-compressed, delta-encoded objects as it does
// from a mirror.
func buildPacked(b *testing.B, services, weeks int) {
	dir := b.TempDir()
	packedRS = buildSynthetic(b, services, 0).rs
	cmd := exec.Command("git", "init", "-q", "--bare", "-b", "main", dir)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	imp := exec.Command("git", "fast-import", "--quiet")
	imp.Dir = dir
	imp.Env = cmd.Env
	in, err := imp.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := imp.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	mark, t := 0, int64(1761955200)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	kust := func(s int, tag string) string {
		return fmt.Sprintf("resources: [../base]\nimages:\n  - name: registry.example.com/svc-%03d\n    newTag: %s\n", s, tag)
	}
	commit := func(ref, msg string, from, merge int, files map[string]string) int {
		mark++
		t += 60
		fmt.Fprintf(w, "commit %s\nmark :%d\ncommitter promobot <p@example.com> %d +0000\n", ref, mark, t)
		data(msg)
		if from > 0 {
			fmt.Fprintf(w, "from :%d\n", from)
		}
		if merge > 0 {
			fmt.Fprintf(w, "merge :%d\n", merge)
		}
		for p, c := range files {
			fmt.Fprintf(w, "M 100644 inline %s\n", p)
			data(c)
		}
		return mark
	}
	start := map[string]string{}
	for s := range services {
		for _, e := range benchEnvs {
			start[fmt.Sprintf("apps/svc-%03d/%s/kustomization.yaml", s, e)] = kust(s, "v0")
		}
	}
	head := commit("refs/heads/main", "initial layout", 0, 0, start)
	for wk := 1; wk <= weeks; wk++ {
		for i, e := range benchEnvs {
			for s := range services {
				tag := fmt.Sprintf("v%d", wk)
				f := map[string]string{fmt.Sprintf("apps/svc-%03d/%s/kustomization.yaml", s, e): kust(s, tag)}
				msg := fmt.Sprintf("Promote svc-%03d %s to %s\n\nPromobot-Intent: w%d-%d-%d\nPromobot-Kind: promote\n", s, tag, e, wk, i, s)
				if i == 0 {
					head = commit("refs/heads/main", msg, head, 0, f)
					continue
				}
				tip := commit("refs/heads/pr", msg, head, 0, f)
				head = commit("refs/heads/main", fmt.Sprintf("Merge pull request #%d from acme/promobot/%s/svc-%03d", mark, e, s), head, tip, f)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	_ = in.Close() // fast-import ends at EOF; its exit status says how it went
	if err := imp.Wait(); err != nil {
		b.Fatalf("git fast-import: %v", err)
	}
	packedDir = dir
}

// BenchmarkWalkYearPacked is BenchmarkWalkYear over a real repository:
// objects come out of a pack file through go-git's filesystem storage.
func BenchmarkWalkYearPacked(b *testing.B) {
	packedOnce.Do(func() { buildPacked(b, 200, benchWeeks) })
	if packedDir == "" {
		b.Fatal("building the repository failed in an earlier benchmark")
	}
	packs, _ := filepath.Glob(filepath.Join(packedDir, "objects", "pack", "*.pack"))
	b.Logf("%d pack file(s) in %s", len(packs), strings.TrimPrefix(packedDir, os.TempDir()))
	b.ReportAllocs()
	cpu := cpuTimer(b)
	b.ResetTimer()
	for b.Loop() {
		st, head, err := history.OpenDir(packedDir, "main")
		if err != nil {
			b.Fatal(err)
		}
		h, err := history.Walk(context.Background(), st, head, packedRS, history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if h.Commits != 1+benchWeeks*len(benchEnvs)*200 {
			b.Fatalf("%d commits", h.Commits)
		}
	}
	cpu()
}
