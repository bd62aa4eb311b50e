package rules

import (
	"errors"
	"os"
	"testing"
)

func FuzzParseRepoConfig(f *testing.F) {
	example, err := os.ReadFile("../../config/examples/repo-promobot.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(teamConfig))
	f.Add([]byte(""))
	f.Add([]byte("version: 1\nenvironments: [{name: prod, autoMerge: true}]\nservices: []\n"))
	f.Add([]byte("version: 1\nservices: [{name: a, repo: x/y}]\n"))
	f.Add([]byte("version: 1\npolicy: {}\n"))
	rs, err := Parse("rules.yaml", []byte(serverPolicy))
	if err != nil {
		f.Fatal(err)
	}
	pol := rs.Policy
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRepoConfig(ConfigSource{Repo: "acme/team", Commit: "c"}, data, pol)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			if r != nil {
				t.Fatal("configuration returned with an error")
			}
			for _, e := range errs {
				if e.File != DefaultRepoConfigPath || e.Line < 1 {
					t.Fatalf("error without file and line: %+v", e)
				}
			}
			return
		}
		for _, s := range r.Services {
			if s.Repo != "acme/team" {
				t.Fatalf("service %s in %q: the repository is implied", s.Name, s.Repo)
			}
			if !pol.ImageAllowed(s.Image) {
				t.Fatalf("service %s: image %q outside the policy accepted", s.Name, s.Image)
			}
			for _, e := range r.Environments {
				st, ok := r.Env(s.Name, e.Name)
				if ok && len(e.Name) >= 4 && e.Name[:4] == "prod" && (st.AutoMerge || !st.Ticket.Required) {
					t.Fatalf("policy weakened in %s: %+v", e.Name, st)
				}
			}
		}
	})
}
