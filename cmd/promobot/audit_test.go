package main

import (
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/history/gitfixture"
)

func TestAudit(t *testing.T) {
	rulesPath, repo := gitopsFixture(t, gitfixture.GitOpsRules)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"audit-prod-md", []string{"--env", "prod"}},
		{"audit-since-csv", []string{"--since", "3d", "--output", "csv"}},
		{"audit-since-json", []string{"--since", "2026-03-02", "--output", "json", "--env", "staging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"audit", "--rules", rulesPath, "--repo", repo}, tc.args...)
			code, out, errOut := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

func TestAuditHostileInput(t *testing.T) {
	rulesPath, repo := gitopsFixture(t, gitfixture.GitOpsRules)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad since", []string{"--since", "last tuesday"}, "want a duration back from now"},
		{"negative since", []string{"--since", "-3d"}, "want a duration back from now"},
		{"huge since", []string{"--since", strings.Repeat("9", 40) + "d"}, "--since"},
		{"unknown output", []string{"--output", "xlsx"}, `unknown --output "xlsx" (md, csv or json)`},
		{"huge history limit", []string{"--max-commits", "999999999999"}, "out of range"},
		{"zero history limit", []string{"--max-commits", "0"}, "out of range"},
		{"history limit not a number", []string{"--max-commits", "lots"}, "invalid argument"},
		{"unknown env", []string{"--env", "qa"}, `unknown --env "qa"`},
		{"both sources", []string{"--github", "acme/gitops"}, "not both"},
		{"not a git checkout", []string{"--repo", t.TempDir()}, "repository"},
		{"stray argument", []string{"prod"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"audit", "--rules", rulesPath, "--repo", repo}, tc.args...)
			code, out, errOut := run(t, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant %q", code, out, errOut, tc.want)
			}
		})
	}
}
