package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hostile and malformed inputs end with a message and exit 1, never a panic
// and never a read outside the checkout.
func TestOfflineHostileInput(t *testing.T) {
	rulesPath, repo := fixture(t)
	dir := filepath.Dir(rulesPath)
	writeTree(t, dir, map[string]string{
		"garbage.yaml": "\x00\x01{{{{ not: [yaml",
		"secret.yaml":  "image:\n  tag: \"stolen\"\n",
	})
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("version: 1\n"+strings.Repeat("# padding\n", 300_000)), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"missing rules", []string{"validate", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"rules is a directory", []string{"validate", dir}, dir},
		{"garbage rules", []string{"validate", filepath.Join(dir, "garbage.yaml")}, "garbage.yaml:"},
		{"oversized rules", []string{"validate", big}, "big.yaml"},
		{"plan with garbage rules", []string{"plan", "--rules", filepath.Join(dir, "garbage.yaml"), "--repo", repo, "--service", "web", "--to", "prod"}, "garbage.yaml:"},
		{"status of a missing checkout", []string{"status", "--rules", rulesPath, "--repo", filepath.Join(dir, "nope")}, "nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 naming %q", code, out, errOut, tt.want)
			}
		})
	}

	// A target file that is a symlink out of the checkout is refused, not read.
	values := filepath.Join(repo, "charts/web/values-staging.yaml")
	if err := os.Remove(values); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "secret.yaml"), values); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "validate", rulesPath, "--repo", repo)
	if code != 1 || !strings.Contains(errOut, "services[1].targets.staging[0].helm") {
		t.Fatalf("validate through a symlink: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "status", "--rules", rulesPath, "--repo", repo)
	if code != 0 || strings.Contains(out, "stolen") || !strings.Contains(out, "? web in staging") {
		t.Fatalf("status through a symlink: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "plan", "--rules", rulesPath, "--repo", repo, "--service", "web", "--to", "prod", "--ticket", "PAY-1")
	if code != 1 || strings.Contains(out, "stolen") {
		t.Fatalf("plan through a symlink: exit %d\n%s%s", code, out, errOut)
	}

	// A target file that is not YAML.
	writeTree(t, repo, map[string]string{"charts/web/values-dev.yaml": "image: [unclosed\n"})
	code, _, errOut = run(t, "plan", "--rules", rulesPath, "--repo", repo, "--service", "web", "--to", "staging")
	if code != 1 || !strings.Contains(errOut, "values-dev.yaml") {
		t.Fatalf("malformed values: exit %d, %s", code, errOut)
	}
}

func TestDiffLines(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\n", []string{"a\n"}},
		{"a\nb", []string{"a\n", "b\n"}},
		{"a\r\nb\r\n", []string{"a\r\n", "b\r\n"}},
		{"\n\n", []string{"\n", "\n"}},
	} {
		got := diffLines([]byte(tt.in))
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("diffLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDiffLines: every line ends in a newline and the lines give the file
// back (plus the final newline a file without one lacks).
func FuzzDiffLines(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "a\r\nb", "\n\n\n", "images:\n  - name: x\n    newTag: v1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines := diffLines(b)
		for _, l := range lines {
			if !strings.HasSuffix(l, "\n") || strings.Count(l, "\n") != 1 {
				t.Fatalf("line %q", l)
			}
		}
		joined := strings.Join(lines, "")
		if joined != string(b) && joined != string(b)+"\n" {
			t.Fatalf("lines %q do not give back %q", lines, b)
		}
	})
}
