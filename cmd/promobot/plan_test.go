package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		// Tag taken from staging; both prod targets change.
		{"plan-kustomize-prod", []string{"--service", "payment-service", "--to", "prod", "--ticket", "PAY-42"}, 0},
		{"plan-helm-staging", []string{"--service", "web", "--to", "staging"}, 0},
		{"plan-manifest-prod", []string{"--service", "web", "--to", "prod", "--tag", "1.8.0", "--ticket", "PAY-7"}, 0},
		{"plan-first-env", []string{"--service", "payment-service", "--to", "dev", "--tag", "v2.5.0"}, 0},
		{"plan-refused-ticket", []string{"--service", "payment-service", "--to", "prod"}, 2},
		{"plan-nothing-to-do", []string{"--service", "web", "--to", "prod", "--tag", "1.7.0", "--ticket", "PAY-7"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rulesPath, repo := fixture(t)
			before := snapshot(t, repo)
			code, out, errOut := run(t, append([]string{"plan", "--rules", rulesPath, "--repo", repo}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			golden(t, tt.name, out)
			if after := snapshot(t, repo); after != before {
				t.Error("plan without --write changed the checkout")
			}
			if code == 0 && strings.Contains(out, "--- a/") {
				gitApply(t, repo, out)
			}
		})
	}
}

// gitApply checks that the printed diff is a patch git accepts for the checkout.
func gitApply(t *testing.T, repo, diff string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not installed: patch not checked")
		return
	}
	cmd := exec.Command("git", "apply", "--check", "-")
	cmd.Dir = repo
	cmd.Stdin = strings.NewReader(diff)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git apply --check: %v\n%s", err, out)
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s\n%s\n", p, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanWrite(t *testing.T) {
	rulesPath, repo := fixture(t)
	args := []string{"plan", "--rules", rulesPath, "--repo", repo, "--service", "payment-service", "--to", "prod", "--ticket", "PAY-42"}
	code, first, errOut := run(t, append(args, "--write")...)
	if code != 0 || !strings.Contains(first, "+    newTag: v2.4.0 # promoted by promobot") {
		t.Fatalf("exit %d\n%s\n%s", code, first, errOut)
	}
	for _, p := range []string{"prod-eu", "prod-us"} {
		if !strings.Contains(errOut, "wrote apps/payment-service/overlays/"+p+"/kustomization.yaml") {
			t.Errorf("stderr does not report writing %s: %s", p, errOut)
		}
		got, err := os.ReadFile(filepath.Join(repo, "apps/payment-service/overlays", p, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		// Only the tag changed: every other byte stays.
		if want := overlay(p, "v2.4.0"); string(got) != want {
			t.Errorf("%s after --write:\n%s\nwant:\n%s", p, got, want)
		}
	}
	code, again, errOut := run(t, args...)
	if code != 0 || !strings.HasPrefix(again, "nothing to do:") {
		t.Fatalf("second plan: exit %d\n%s\n%s", code, again, errOut)
	}
}

func TestPlanErrors(t *testing.T) {
	rulesPath, repo := fixture(t)
	tests := []struct {
		name, want string
		args       []string
	}{
		{"unknown service", `unknown service "nope"`, []string{"--service", "nope", "--to", "prod"}},
		{"first env needs a tag", "--tag is required", []string{"--service", "web", "--to", "dev"}},
		{"invalid tag", "invalid tag", []string{"--service", "web", "--to", "staging", "--tag", "bad tag!"}},
		{"missing service flag", `required flag(s) "service"`, []string{"--to", "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"plan", "--rules", rulesPath, "--repo", repo}, tt.args...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
		})
	}
	code, out, _ := run(t, "plan", "--rules", rulesPath, "--repo", repo, "--service", "web", "--to", "qa", "--tag", "1.0.0")
	if code != 2 || !strings.Contains(out, `no environment "qa"`) {
		t.Fatalf("unknown environment: exit %d, %s", code, out)
	}
}
