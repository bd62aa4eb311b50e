package checkout

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking):\n%s", p, got)
	}
}

func TestConfigCheck(t *testing.T) {
	server, err := rules.Parse("promotion-rules.yaml", []byte(policyRules))
	if err != nil {
		t.Fatal(err)
	}
	src := rules.ConfigSource{Repo: gitopsRepo, Commit: "abc"}

	ok := CheckConfig(server, src, []byte(teamConfig))
	if ok.Conclusion != "success" || len(ok.Annotations) != 0 {
		t.Fatalf("valid: %+v", ok)
	}
	checkGolden(t, "config-check-valid.golden", ok.Title+"\n\n"+ok.Summary)

	weak := strings.Replace(teamConfig, "  - { name: prod }\n", "  - { name: prod, autoMerge: true }\n", 1)
	weak = strings.Replace(weak, "    image: registry.example.com/worker\n", "    image: registry.example.com/worker\n    colour: blue\n", 1)
	bad := CheckConfig(server, src, []byte(weak))
	if bad.Conclusion != "failure" || len(bad.Annotations) != 2 {
		t.Fatalf("weakening: %+v", bad)
	}
	a := bad.Annotations[0]
	if a.Path != rules.DefaultRepoConfigPath || a.StartLine != 4 || a.Title != "weakens the organisation policy" || !strings.Contains(a.Message, "environments[1].autoMerge") {
		t.Errorf("policy annotation %+v", a)
	}
	if b := bad.Annotations[1]; b.StartLine != 13 || b.Title != "invalid configuration" {
		t.Errorf("error annotation %+v", b)
	}
	checkGolden(t, "config-check-failure.golden", bad.Title+"\n\n"+bad.Summary)

	var many strings.Builder
	many.WriteString("version: 1\nenvironments: [ { name: dev } ]\nservices: []\n")
	for i := range 60 {
		many.WriteString("x" + strings.Repeat("y", i) + ": 1\n")
	}
	if c := CheckConfig(server, src, []byte(many.String())); len(c.Annotations) != MaxConfigAnnotations || !strings.Contains(c.Summary, "The first 50 errors are annotated") {
		t.Errorf("60 errors: %d annotations", len(c.Annotations))
	}
}
