package rules

import (
	"errors"
	"os"
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base))
	f.Add([]byte(""))
	f.Add([]byte("version: 1\nenvironments: [{name: dev}]\nservices: []\n"))
	f.Add([]byte("version: 1\na: &a [*a]\n"))
	f.Add([]byte("version: 1\ndefaults: { title: '{{range .Services}}{{.}}{{end}}' }\nenvironments: [{name: dev}]\n"))
	f.Add([]byte("version: 1\nenvironments: [{name: p, windows: [{allow: '*/0 * * * *', duration: 1h}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			if r != nil {
				t.Fatal("rules returned with an error")
			}
			_ = err.Error()
			return
		}
		// accepted rules re-validate and answer without panicking
		if _, err := Parse("again.yaml", data); err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		for _, s := range r.Services {
			svc, ok := r.Service(s.Name)
			if !ok {
				t.Fatalf("service %q not indexed", s.Name)
			}
			for _, e := range r.EnvNames() {
				if _, ok := r.Env(s.Name, e); !ok {
					t.Fatalf("no settings for %s/%s", s.Name, e)
				}
				if _, err := r.Branch(e, s.Name); err != nil {
					t.Fatalf("branch of valid rules: %v", err)
				}
				r.Next(svc, e)
				r.FindTicket(s.Name, e, "ABC-1 x")
			}
			if svc.Source != nil {
				if tag, err := r.RenderTag(svc, sampleBuild); err == nil && !intent.ValidTag(tag) {
					t.Fatalf("RenderTag returned invalid tag %q", tag)
				}
			}
			if _, err := r.Title(TitleData{Service: s.Name, Env: "prod", Tag: "v1.0.0"}); err != nil {
				t.Fatalf("title of valid rules: %v", err)
			}
		}
	})
}
