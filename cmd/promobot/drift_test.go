package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/history/gitfixture"
	"github.com/promobot/promobot/internal/status"
)

// gitopsFixture is the shared GitOps history with its rules file beside it;
// the offline clock is set two days after its last commit.
func gitopsFixture(t *testing.T, rulesText string) (rulesPath, repo string) {
	t.Helper()
	r := gitfixture.GitOps(t)
	rulesPath = filepath.Join(t.TempDir(), "promotion-rules.yaml")
	writeTree(t, filepath.Dir(rulesPath), map[string]string{"promotion-rules.yaml": rulesText})
	old := now
	now = func() time.Time { return gitfixture.Hour(50 + 48) }
	t.Cleanup(func() { now = old })
	return rulesPath, r.Dir
}

func TestStatusDrift(t *testing.T) {
	rulesPath, repo := gitopsFixture(t, gitfixture.GitOpsRules)
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			code, out, errOut := run(t, "status", "--rules", rulesPath, "--repo", repo, "--output", output)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			golden(t, "status-drift-"+output, out)
			if output == "json" {
				var rep status.Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Drift) == 0 {
					t.Fatalf("json output: %v, %d flags", err, len(rep.Drift))
				}
			}
		})
	}
}

func TestStatusCheck(t *testing.T) {
	// Only web: every environment came through promobot.
	webOnly := gitfixture.GitOpsRules[:strings.Index(gitfixture.GitOpsRules, "  - name: api")]
	tests := []struct {
		name     string
		rules    string
		git      bool
		code     int
		stderr   string
		contains string
	}{
		{"flags raised", gitfixture.GitOpsRules, true, 1, "drift flag(s) raised", "~ api in prod: lag"},
		{"no flags", webOnly, true, 0, "", "web"},
		{"no git history", webOnly, false, 1, "reads drift from git history", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rulesPath, repo := gitopsFixture(t, tc.rules)
			if !tc.git {
				plain := t.TempDir()
				writeTree(t, plain, map[string]string{"apps/web/dev/kustomization.yaml": "images: []\n"})
				repo = plain
			}
			code, out, errOut := run(t, "status", "--rules", rulesPath, "--repo", repo, "--check")
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || !strings.Contains(out, tc.contains) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
		})
	}
}
