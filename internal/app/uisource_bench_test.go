package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
)

// yearHistory is a GitOps repository's year: services × 4 environments,
// each service promoted through every environment once a week (dev by a
// direct commit, the others through a PR), newest first.
func yearHistory(tb testing.TB, services int) (*rules.Rules, *history.History) {
	tb.Helper()
	envs := []string{"dev", "staging", "preprod", "prod"}
	var y strings.Builder
	y.WriteString("version: 1\nenvironments:\n")
	for i, e := range envs {
		fmt.Fprintf(&y, "  - name: %s\n    direct: %v\n", e, i == 0)
	}
	y.WriteString("services:\n")
	for s := range services {
		fmt.Fprintf(&y, "  - name: svc-%03d\n    repo: acme/gitops\n    image: registry.example.com/svc-%03d\n    targets:\n", s, s)
		for _, e := range envs {
			fmt.Fprintf(&y, "      %s: { kustomize: apps/svc-%03d/%s }\n", e, s, e)
		}
	}
	rs, err := rules.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		tb.Fatal(err)
	}
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	h := &history.History{Head: fmt.Sprintf("%040x", 1)}
	pr := 0
	for w := 51; w >= 0; w-- { // oldest week last in the slice: build newest first
		for s := services - 1; s >= 0; s-- {
			for e := len(envs) - 1; e >= 0; e-- {
				pr++
				when := end.Add(-time.Duration(w)*7*24*time.Hour - time.Duration(s*4+e)*time.Minute)
				c := history.Change{Time: when, Commit: fmt.Sprintf("%040x", pr), Service: fmt.Sprintf("svc-%03d", s), Env: envs[e],
					Path: fmt.Sprintf("apps/svc-%03d/%s/kustomization.yaml", s, envs[e]), From: fmt.Sprintf("v%d", 51-w), To: fmt.Sprintf("v%d", 52-w),
					Image: fmt.Sprintf("registry.example.com/svc-%03d", s), Subject: "promote"}
				c.Origin = history.Origin{Via: history.ViaPR, PR: pr, Requester: "alice", Ticket: fmt.Sprintf("PAY-%d", pr)}
				if e == 0 {
					c.Origin = history.Origin{Via: history.ViaDirect, Requester: "build #42"}
				}
				h.Changes = append(h.Changes, c)
			}
		}
	}
	for s := range services {
		for e, env := range envs {
			c := h.Changes[(services-1-s)*len(envs)+len(envs)-1-e] // week 0, newest
			h.Current = append(h.Current, history.Current{Service: c.Service, Env: env, Path: c.Path, Tag: c.To, Ref: c.To, Image: c.Image,
				Since: c.Time, Commit: c.Commit, By: c.Requester, Origin: c.Origin})
		}
	}
	h.Commits = len(h.Changes)
	return rs, h
}

// cpuUsed is this process's CPU time so far.
func cpuUsed(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStatusPageYear renders the status page and one service's
// timeline for 200 services × 4 environments with a year of history (the
// history walked once per head, as the cache does), through the same
// source, drift flags and templates as `promobot serve`.
func BenchmarkStatusPageYear(b *testing.B) {
	rs, h := yearHistory(b, 200)
	var cur atomic.Pointer[history.History]
	cur.Store(h)
	src := &uiSource{rules: func() *rules.Rules { return rs }, webURL: "https://github.com", now: time.Now, log: zerolog.Nop(),
		walk: func(context.Context, *rules.Rules, string) (*history.History, error) { return cur.Load(), nil }}
	handler, err := ui.New(ui.Config{Source: src, NoAuth: true, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, path string
		// rebuild: the matrix is built on the request (the first request
		// of a repository; later ones never wait for a build).
		rebuild bool
		// newHead: each request finds a new head: it is served the last
		// matrix while a rebuild runs in the background.
		newHead bool
	}{
		{name: "matrix-200x4", path: "/"},
		{name: "matrix-200x4-rebuilt", path: "/", rebuild: true},
		{name: "matrix-200x4-new-head", path: "/", newHead: true},
		{name: "timeline-208", path: "/repos/acme/gitops/services/svc-042"},
		{name: "status-json-200x4", path: "/api/v1/status"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuUsed(b)
			for b.Loop() {
				switch {
				case bc.rebuild:
					src.mu.Lock()
					src.built = nil
					src.mu.Unlock()
				case bc.newHead:
					next := *cur.Load() // a new head: another history
					cur.Store(&next)
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("GET", bc.path, nil))
				if rec.Code != 200 {
					b.Fatalf("code %d", rec.Code)
				}
			}
			src.settle()
			// CPU per page (GC and background rebuilds included): the wall
			// time above also counts waiting for a core on a shared machine.
			b.ReportMetric(float64(cpuUsed(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
