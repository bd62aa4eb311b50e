package intent

import (
	"strings"
	"testing"
	"time"
)

func TestValidateHealth(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ok := Intent{ID: "d:2", Kind: KindHealth, Repo: "acme/gitops",
		Source: SourceRef{SHA: strings.Repeat("a", 40), Ref: "main"},
		Check:  &Check{Name: "continuous-delivery/web-prod", State: "pending", URL: "https://argocd.example.com/app", At: at}}
	tests := []struct {
		name string
		edit func(*Intent)
		want string // "" valid
	}{
		{"a pending report", func(*Intent) {}, ""},
		{"a failure without a link", func(in *Intent) { in.Check.State, in.Check.URL = "failure", "" }, ""},
		{"no check", func(in *Intent) { in.Check = nil }, "needs its check"},
		{"no time", func(in *Intent) { in.Check.At = time.Time{} }, "needs its time"},
		{"no commit", func(in *Intent) { in.Source.SHA = "" }, "commit"},
		{"a ref for a commit", func(in *Intent) { in.Source.SHA = "main" }, "commit"},
		{"names a service", func(in *Intent) { in.Services = []string{"web"} }, "no service"},
		{"names an environment", func(in *Intent) { in.To = "prod" }, "no service"},
		{"unknown state", func(in *Intent) { in.Check.State = "neutral" }, "invalid check state"},
		{"name with a newline", func(in *Intent) { in.Check.Name = "a\nb" }, "invalid check name"},
		{"oversized name", func(in *Intent) { in.Check.Name = strings.Repeat("n", 256) }, "invalid check name"},
		{"javascript link", func(in *Intent) { in.Check.URL = "javascript:alert(1)" }, "invalid check link"},
		{"oversized link", func(in *Intent) { in.Check.URL = "https://x.example.com/" + strings.Repeat("a", 2048) }, "invalid check link"},
		{"bad repo", func(in *Intent) { in.Repo = "acme/.." }, "invalid repo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			c := *ok.Check
			in.Check = &c
			if in.Check != nil {
				tt.edit(&in)
			}
			b, err := in.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want %q", err, tt.want)
			case err == nil && !got.Check.At.Equal(in.Check.At):
				t.Errorf("time %v after a round trip, want %v", got.Check.At, in.Check.At)
			}
		})
	}
	if s := ok.Subject(); s != "promobot.intents.acme%2Fgitops._health.report" {
		t.Errorf("subject = %q", s)
	}
}
