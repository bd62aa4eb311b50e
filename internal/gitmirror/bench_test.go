package gitmirror

import (
	"context"
	"testing"
)

func BenchmarkReadFile(b *testing.B) {
	u := newUpstream(b)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v1"), "envs/prod/kustomization.yaml": kust("v0")})
	m := newMirrors(b)
	mustFetch(b, m, u)
	ctx := context.Background()
	b.Run("shared-snapshot", func(b *testing.B) {
		s, err := m.Snapshot(ctx, testRepo, "main")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.ReadFile(ctx, stagingFile); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("snapshot-per-read", func(b *testing.B) {
		for b.Loop() {
			s, err := m.Snapshot(ctx, testRepo, "main")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.ReadFile(ctx, stagingFile); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFetchNoop: a fetch with nothing new, over smart HTTP served by
// git http-backend through CGI (one process per request dominates).
func BenchmarkFetchNoop(b *testing.B) {
	u := newUpstream(b)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v1")})
	m := newMirrors(b)
	mustFetch(b, m, u)
	ctx := context.Background()
	for b.Loop() {
		if err := m.Fetch(ctx, testRepo, u.url, goodCreds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFirstSeen(b *testing.B) {
	u := newUpstream(b)
	u.commit("main", hour(0), map[string]string{stagingFile: kust("v0")})
	for i := 1; i <= 50; i++ {
		u.commit("main", hour(i), map[string]string{"README.md": string(rune('a' + i%26))})
	}
	m := newMirrors(b)
	mustFetch(b, m, u)
	ctx := context.Background()
	for b.Loop() {
		if _, ok, err := m.FirstSeen(ctx, testRepo, "main", stagingFile, runs("v0")); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
